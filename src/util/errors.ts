/**
 * The errors pstore-sim reports to its users: each says what is wrong in words a user acts on.
 * The CLI prints their message (no stack) and exits with their code: 1 for a user's mistake,
 * 2 for an environment problem (no /dev/fuse, no fusermount, an addon that does not load).
 */
export class PstoreSimError extends Error {
  readonly exitCode: number = 1
  override name = 'PstoreSimError'
}

export class EnvironmentError extends PstoreSimError {
  override readonly exitCode: number = 2
  override name = 'EnvironmentError'
}
