import { enigmaCommand, version } from "./cli.ts"
import { runCli } from "./RunCli.ts"

/** The `enigma` binary. */
runCli(enigmaCommand, { name: "enigma", version })
