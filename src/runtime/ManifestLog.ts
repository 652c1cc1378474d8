import { Layer } from "effect"
import { EventLog, ManifestError } from "../services/manifest/EventLog.ts"
import { manifestFailure } from "../services/manifest/ManifestFailure.ts"
import * as NodeSqliteClient from "../services/sql/NodeSqliteClient.ts"

/** A manifest database that does not open, as one that fails a write reads (EventLog's ManifestError). */
export const openFailure = (cause: unknown, file: string) => new ManifestError({ detail: manifestFailure(cause, file) }).message

/** A manifest's event log alone, for what runs before the repository's services are built. */
export const manifestLog = (dbPath: string) => EventLog.layerNoDeps.pipe(Layer.provide(NodeSqliteClient.layer({ filename: dbPath, describeOpenFailure: openFailure })))
