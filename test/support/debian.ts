import { spawnSync } from "node:child_process"

const onPath = (command: string) => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

/**
 * Makes sure a real client from Debian's packages is installed (tests use the real `age`,
 * later aws-cli, rclone, s3cmd…): installs the package with apt-get when the command is
 * missing, as CI starts on a bare machine. Throws, naming the package, when that fails.
 */
export const ensureDebianCommand = (command: string, pkg = command): string => {
  if (onPath(command)) return command
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", pkg], { encoding: "utf8", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } })
  let r = install()
  if (r.status !== 0) {
    spawnSync("apt-get", ["update"], { encoding: "utf8" })
    r = install()
  }
  if (!onPath(command)) {
    throw new Error(`this test needs \`${command}\` (Debian package ${pkg}); installing it failed: ${(r.stderr ?? "").trim().split("\n").pop()}; run \`apt-get install ${pkg}\``)
  }
  return command
}
