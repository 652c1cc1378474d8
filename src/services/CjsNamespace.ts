/**
 * A CommonJS SDK's exports from a dynamic `import()`: once bundled, esbuild may put them under
 * `default`. `probe` is an export the module surely has (its client class).
 */
export const cjsNamespace = <M extends object>(probe: keyof M) => (m: M): M =>
  probe in m ? m : (m as unknown as { default: M }).default
