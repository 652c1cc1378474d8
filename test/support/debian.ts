import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"

const onPath = (command: string) => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

/** apt-get install (after an `apt-get update` if the first attempt fails); returns the last attempt. */
const aptInstall = (pkg: string) => {
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", pkg], { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } })
  let r = install()
  if (r.status !== 0) {
    spawnSync("apt-get", ["update"], { encoding: "utf8" })
    r = install()
  }
  return r
}

const installFailed = (command: string, pkg: string, r: ReturnType<typeof aptInstall>) =>
  new Error(`this test needs \`${command}\` (Debian package ${pkg}); installing it failed: ${(r.stderr ?? "").trim().split("\n").pop()}; run \`apt-get install ${pkg}\``)

/**
 * Makes sure a real client from Debian's packages is installed (tests use the real `age`,
 * later aws-cli, rclone, s3cmd…): installs the package with apt-get when the command is
 * missing, as CI starts on a bare machine. Throws, naming the package, when that fails.
 */
export const ensureDebianCommand = (command: string, pkg = command): string => {
  if (onPath(command)) return command
  const r = aptInstall(pkg)
  if (!onPath(command)) throw installFailed(command, pkg, r)
  return command
}

/**
 * Like ensureDebianCommand, but returns the absolute path of Debian's own build
 * (`/usr/bin/<command>`), so that another install found earlier on PATH (aws-cli 1.x from pip
 * under pyenv, say) is never the one tested.
 */
export const debianBinary = (command: string, pkg = command): string => {
  const bin = `/usr/bin/${command}`
  if (existsSync(bin)) return bin
  const r = aptInstall(pkg)
  if (!existsSync(bin)) throw installFailed(command, pkg, r)
  return bin
}
