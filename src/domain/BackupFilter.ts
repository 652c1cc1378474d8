import * as path from "node:path"
import { hasTags, parseBackupTags } from "./BackupTags.ts"

/**
 * Which backups `list`, `forget` and `tag` act on, as restic's snapshot filter: `--tag` (every
 * one of them), `--host` (any of them) and `--path` (the backup was made of every one of them).
 * Nothing given: every backup.
 */
export interface BackupFilter {
  readonly tags: ReadonlyArray<string>
  readonly hosts: ReadonlyArray<string>
  readonly paths: ReadonlyArray<string>
}

export const everyBackup: BackupFilter = { tags: [], hosts: [], paths: [] }

export const isEveryBackup = (f: BackupFilter) => f.tags.length === 0 && f.hosts.length === 0 && f.paths.length === 0

/** What a filter asks for, in words: "of host a or b, labelled x and y, made of /p". */
export const describeFilter = (f: BackupFilter): string =>
  [
    f.hosts.length > 0 ? `of host ${f.hosts.join(" or ")}` : "",
    f.tags.length > 0 ? `labelled ${f.tags.join(" and ")}` : "",
    f.paths.length > 0 ? `made of ${f.paths.join(" and ")}` : ""
  ].filter((s) => s !== "").join(", ")

export const selects = (f: BackupFilter, b: { readonly tags: ReadonlyArray<string>; readonly host: string; readonly paths: ReadonlyArray<string> }) =>
  hasTags(b.tags, f.tags) && (f.hosts.length === 0 || f.hosts.includes(b.host)) && f.paths.every((p) => b.paths.includes(p))

/**
 * The filter the flags give, or the user's error. Paths are made absolute from `cwd` (the working
 * directory), as `backup` records them.
 */
export const parseBackupFilter = (cwd: string, flags: {
  readonly tags: ReadonlyArray<string>
  readonly hosts: ReadonlyArray<string>
  readonly paths: ReadonlyArray<string>
}): BackupFilter | { readonly error: string } => {
  const tags = parseBackupTags(flags.tags)
  if ("error" in tags) return tags
  const badHost = flags.hosts.find((h) => h.trim() === "")
  if (badHost !== undefined) return { error: `--host "${badHost}": give a host name, as \`enigma list\` shows them` }
  const badPath = flags.paths.find((p) => p.trim() === "")
  if (badPath !== undefined) return { error: `--path "${badPath}": give a path that was backed up, as \`enigma list\` shows them` }
  return { tags, hosts: flags.hosts.map((h) => h.trim()), paths: flags.paths.map((p) => path.resolve(cwd, p)) }
}

/** What retention groups backups by (restic's `--group-by`): each group keeps its own newest, daily… */
export type GroupField = "host" | "paths" | "tags"
export type GroupBy = ReadonlyArray<GroupField>

/** As restic: by host and set of paths. */
export const defaultGroupBy: GroupBy = ["host", "paths"]

/** `host,paths`, `tags`, … (comma-separated; "" puts every backup in one group), or the user's error. */
export const parseGroupBy = (text: string): GroupBy | { readonly error: string } => {
  const fields: Array<GroupField> = []
  for (const part of text.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    if (part !== "host" && part !== "paths" && part !== "tags") {
      return { error: `--group-by "${part}": give host, paths or tags, comma-separated (e.g. host,tags), or '' for one group` }
    }
    if (!fields.includes(part)) fields.push(part)
  }
  return fields
}

/** The group a backup falls in: equal keys, same group. */
export const groupKey = (g: GroupBy, b: { readonly host: string; readonly paths: ReadonlyArray<string>; readonly tags: ReadonlyArray<string> }): string =>
  g.map((f) => (f === "host" ? b.host : f === "paths" ? JSON.stringify([...b.paths].sort()) : JSON.stringify([...b.tags].sort()))).join("\u0000")

