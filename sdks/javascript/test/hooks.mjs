// Module hooks for the SDK's unit tests: `wasmhub:hub/<interface>@<version>`
// (what componentize-qjs provides inside a component) resolves to the fake
// host.
const FAKE = new URL("./fake-host.mjs", import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier.startsWith("wasmhub:hub/")) return { url: FAKE, shortCircuit: true };
  return next(specifier, context);
}
