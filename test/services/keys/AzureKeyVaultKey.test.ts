import { assert, describe, it } from "@effect/vitest"
import { credentialReason, parseChallenge, tokenRequest } from "../../../src/services/keys/AzureKeyVaultKey.ts"

/** What Key Vault's 401 challenge may make Enigma do with a token, and how credential failures read. */
describe("Azure Key Vault's token challenge", () => {
  const challenge = (resource: string) => parseChallenge(`Bearer authorization="https://login.microsoftonline.com/tenant-1", resource="${resource}"`)!

  it("asks for a token of the vault's own cloud, from the tenant the vault names", () => {
    assert.deepStrictEqual(tokenRequest(challenge("https://vault.azure.net"), "backups.vault.azure.net"), { scope: "https://vault.azure.net/.default", tenantId: "tenant-1" })
    assert.deepStrictEqual(tokenRequest(challenge("https://vault.azure.cn/"), "backups.vault.azure.cn"), { scope: "https://vault.azure.cn/.default", tenantId: "tenant-1" })
    // The newer form names the scope itself.
    assert.deepStrictEqual(
      tokenRequest(parseChallenge(`Bearer authorization_uri="https://login.microsoftonline.us/t2/", scope="https://vault.usgovcloudapi.net/.default"`)!, "v.vault.usgovcloudapi.net"),
      { scope: "https://vault.usgovcloudapi.net/.default", tenantId: "t2" }
    )
  })

  it("refuses a vault that asks for another domain's token (it could be anyone's server collecting them)", () => {
    assert.match(String(tokenRequest(challenge("https://management.azure.com"), "backups.vault.azure.net")), /asks for a token for management\.azure\.com, which is not its own domain; refusing/)
    // A suffix that is not a domain boundary is another domain.
    assert.match(String(tokenRequest(challenge("https://azure.net"), "evilvault.azure.net.example")), /not its own domain/)
    assert.match(String(tokenRequest(challenge("https://ault.azure.net"), "v.vault.azure.net")), /not its own domain/)
    assert.match(String(tokenRequest(parseChallenge(`Bearer authorization="https://login.microsoftonline.com/t"`)!, "v.vault.azure.net")), /names no resource or scope/)
    assert.isUndefined(parseChallenge(`Basic realm="x"`))
    assert.isUndefined(parseChallenge(null))
  })

  it("says in one line why no token came: the credential that was set up and failed, or what to set up", () => {
    const chain = (...lines: Array<string>) => Object.assign(new Error(["ChainedTokenCredential authentication failed.", ...lines].join("\n")), { name: "AggregateAuthenticationError" })
    const unavailable = "CredentialUnavailableError: EnvironmentCredential is unavailable. No underlying credential could be used."
    const cli = "CredentialUnavailableError: Azure CLI could not be found. Please visit https://aka.ms/azure-cli"
    assert.strictEqual(
      credentialReason(chain(unavailable, "CredentialUnavailableError: ManagedIdentityCredential: Authentication failed. Message invalid_request: Error(s): Not Available - Timestamp: Not Available - Description: Identity not found - Correlation ID: Not Available - Trace ID: Not Available", cli)),
      "ManagedIdentityCredential: Authentication failed. Message invalid_request: Description: Identity not found"
    )
    assert.strictEqual(credentialReason(chain(unavailable, "AuthenticationError: ClientSecretCredential: AADSTS7000215: Invalid client secret provided.", cli)), "AuthenticationError: ClientSecretCredential: AADSTS7000215: Invalid client secret provided.")
    assert.match(credentialReason(chain(unavailable, cli)), /^no Azure credential is available \(`az login`, a managed identity, or AZURE_TENANT_ID/)
  })
})
