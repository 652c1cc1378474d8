import { Config } from "effect"
import { Command, Flag } from "effect/cli"

export const configDirFlag = Flag.String("config-dir").pipe(
  Flag.withDescription("Directory holding enigma.toml (env ENIGMA_CONFIG_DIR)"),
  Flag.withFallbackConfig(Config.String("ENIGMA_CONFIG_DIR")),
  Flag.withDefault("~/.enigma")
)
export const configFileFlag = Flag.String("config").pipe(
  Flag.withDescription("The config file itself, any name (env ENIGMA_CONFIG); its directory anchors relative paths. Wins over --config-dir"),
  Flag.withFallbackConfig(Config.String("ENIGMA_CONFIG")),
  Flag.optional
)
export const passphraseFlag = Flag.String("passphrase").pipe(
  Flag.withDescription("Repository passphrase (or env ENIGMA_PASSPHRASE, or a prompt on a terminal); visible to other users in ps, prefer --passphrase-file"),
  Flag.optional
)
export const passphraseFileFlag = Flag.String("passphrase-file").pipe(
  Flag.withDescription("Read the passphrase from this file, trailing newlines dropped (env ENIGMA_PASSPHRASE_FILE)"),
  Flag.optional
)
export const passphraseCommandFlag = Flag.String("passphrase-command").pipe(
  Flag.withDescription("Run this shell command and use what it prints as the passphrase, e.g. \"pass show enigma\" (env ENIGMA_PASSPHRASE_COMMAND)"),
  Flag.optional
)

/** Flags every command shares through the root command. */
export const rootCommand = Command.make("enigma").pipe(
  Command.withSharedFlags({
    configDir: configDirFlag,
    configFile: configFileFlag,
    passphrase: passphraseFlag,
    passphraseFile: passphraseFileFlag,
    passphraseCommand: passphraseCommandFlag,
    limitUpload: Flag.String("limit-upload").pipe(
      Flag.withDescription("Upload bandwidth limit in bytes/s, e.g. 50M (overrides limit_upload in the config)"),
      Flag.optional
    ),
    limitDownload: Flag.String("limit-download").pipe(
      Flag.withDescription("Download bandwidth limit in bytes/s, e.g. 100M (overrides limit_download)"),
      Flag.optional
    ),
    repo: Flag.String("repo").pipe(
      Flag.withDescription("Use the repository at this URL instead of a config dir: file:///path, s3://bucket/prefix, azure://container/prefix, gs://bucket/prefix (env ENIGMA_REPO); put creates it"),
      Flag.withFallbackConfig(Config.String("ENIGMA_REPO")),
      Flag.optional
    ),
    key: Flag.String("key").pipe(
      Flag.withDescription("With --repo: a raw 32-byte key (hex:…, file:PATH, env:VAR) from which all repository secrets derive; no passphrase"),
      Flag.optional
    ),
    endpointUrl: Flag.String("endpoint-url").pipe(
      Flag.withDescription("With --repo s3://, azure:// or gs://: the service endpoint (S3-compatible stores, emulators)"),
      Flag.optional
    ),
    region: Flag.String("region").pipe(Flag.withDescription("With --repo s3://: the AWS region (default: AWS_REGION)"), Flag.optional),
    keyHint: Flag.String("key-hint").pipe(
      Flag.withDescription("Try this passphrase (its id in `enigma key list`) first when opening the keystore (env ENIGMA_KEY_HINT)"),
      Flag.withFallbackConfig(Config.String("ENIGMA_KEY_HINT")),
      Flag.optional
    ),
    retryLock: Flag.String("retry-lock").pipe(
      Flag.withDescription("If another writer holds the repository lock, try again for up to this long (e.g. 5m, 2h) instead of exiting 11"),
      Flag.optional
    )
  }),
  Command.withDescription("Encrypted, deduplicating, multi-cloud backups")
)

export const jsonFlag = Flag.Boolean("json").pipe(Flag.withDescription("Machine-readable output"), Flag.withDefault(false))
export const dryRunFlag = Flag.Boolean("dry-run").pipe(Flag.withDescription("Show what would happen, change nothing"), Flag.withDefault(false))
