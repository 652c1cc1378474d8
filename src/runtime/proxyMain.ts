import { Option } from "effect"
import { Command } from "effect/cli"
import { proxyDescription, proxyFlags, runProxy, version } from "./cli.ts"
import { configDirFlag, configFileFlag, passphraseCommandFlag, passphraseFileFlag, passphraseFlag } from "./commands/shared.ts"
import { runCli } from "./RunCli.ts"

/**
 * The `enigma-proxy` binary, as in the seed: `enigma-proxy --config FILE [--passphrase-file F]`.
 * The same server as `enigma proxy`; the config file's `[s3_proxy]` section configures it.
 */
const command = Command.make("enigma-proxy", {
  configFile: configFileFlag,
  configDir: configDirFlag,
  passphrase: passphraseFlag,
  passphraseFile: passphraseFileFlag,
  passphraseCommand: passphraseCommandFlag,
  ...proxyFlags
}, (a) =>
  runProxy(a, { configDir: a.configDir, configFile: a.configFile, passphrase: a.passphrase, passphraseFile: a.passphraseFile, passphraseCommand: a.passphraseCommand, repo: Option.none(), key: Option.none() })).pipe(
  Command.withDescription(proxyDescription)
)

runCli(command, { name: "enigma-proxy", version })
