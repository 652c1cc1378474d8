/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces) → host and port; undefined when malformed. */
export const parseListen = (listen: string): { readonly host: string; readonly port: number } | undefined => {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim())
  if (!m) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port }
}
