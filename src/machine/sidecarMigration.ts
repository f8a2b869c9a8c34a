/**
 * Sidecars of pstore-sim's first format (`"pstoreSim": 1`) read as the current one. Version 1
 * kept a ramoops setup without `backend` (absent meant ramoops) and wrote `resolved` with
 * ramoops' field names for every backend; `resolved` was never read back, so only `setup`
 * converts. Nothing here writes: the file stays as it was, every command converts it in memory,
 * and `format --force` writes the current version.
 */

/** Version 1's `setup` as version 2's (the backend's own fields only); anything else is left for the check to name. */
export function setupFromVersion1(setup: unknown): unknown {
  if (typeof setup !== 'object' || setup === null || Array.isArray(setup)) return setup
  const o = setup as Record<string, unknown>
  const target = o.target ?? {}
  switch (o.backend ?? 'ramoops') {
    case 'ramoops':
      return { backend: 'ramoops', ...fields(o, ['params', 'cmdline', 'dts', 'dtsFile']), target }
    case 'blk':
      return { backend: 'blk', ...fields(o, ['cmdline', 'diskSize']), target }
    case 'erst':
      return { backend: 'erst', erst: o.erst ?? {}, target }
    case 'efi':
      return { backend: 'efi', efi: o.efi ?? {}, target }
    default:
      return o
  }
}

function fields(o: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.filter((name) => o[name] !== undefined).map((name) => [name, o[name]]))
}
