/**
 * What the benchmarks read from /proc about the processes they measure: memory, CPU time and
 * the process tree. Every reader answers undefined (or nothing) once the process is gone.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"

/** A memory figure of /proc/PID/status, in bytes. */
export const procStatus = (pid: number, field: "VmRSS" | "VmHWM"): number | undefined => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

const clockTicks = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100

/** utime + stime of `pid`, in seconds. */
export const procCpu = (pid: number): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(rest[11]) + Number(rest[12])) / clockTicks
  } catch {
    return undefined
  }
}

/** Descendants of `pid` (children first), through /proc/<pid>/task/<tid>/children. */
export const descendants = (pid: number): Array<number> => {
  const out: Array<number> = []
  const visit = (p: number) => {
    let tasks: Array<string> = []
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`)
    } catch {
      return
    }
    for (const t of tasks) {
      let children = ""
      try {
        children = fs.readFileSync(`/proc/${p}/task/${t}/children`, "utf8")
      } catch {
        continue
      }
      for (const c of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(c)
        visit(c)
      }
    }
  }
  visit(pid)
  return out
}

/** The command line's arguments; empty once the process is gone. */
export const procArgs = (pid: number): Array<string> => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a, i, all) => a !== "" || i < all.length - 1)
  } catch {
    return []
  }
}
