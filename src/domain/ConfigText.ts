/**
 * The text of a config file as the TOML parser should see it: without the byte order mark some
 * editors (Windows Notepad, for one) put before UTF-8 text. The parser takes the mark for part of
 * the first key and fails with a message about key characters that names neither the mark nor
 * the fix. Shared by the early unlock (which must not load Config.ts's modules) and Config.ts.
 */
export const withoutByteOrderMark = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
