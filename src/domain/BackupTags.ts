/**
 * `backup --tag`: labels on a backup, as restic's. Each flag may hold several, comma-separated
 * (`--tag daily,db`); a label is any text without a comma, surrounding spaces trimmed.
 */
export const parseBackupTags = (values: ReadonlyArray<string>, flag = "--tag"): Array<string> | { readonly error: string } => {
  const tags: Array<string> = []
  for (const value of values) {
    for (const raw of value.split(",")) {
      const tag = raw.trim()
      // Control characters (a newline) would break `list`'s lines and every label after them.
      if (tag === "" || tag.length > 255 || /[\u0000-\u001f\u007f]/.test(tag)) {
        return { error: `${flag} ${JSON.stringify(value)}: give labels of 1 to 255 characters, no control characters, several separated by commas (e.g. ${flag} daily,db)` }
      }
      if (!tags.includes(tag)) tags.push(tag)
    }
  }
  return tags
}

/** Whether a backup with `tags` carries every one of `wanted` (no `wanted`: every backup does). */
export const hasTags = (tags: ReadonlyArray<string>, wanted: ReadonlyArray<string>): boolean => wanted.every((t) => tags.includes(t))
