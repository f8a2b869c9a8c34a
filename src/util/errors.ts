/**
 * The errors pstore-sim reports to its users: each says what is wrong in words a user acts on.
 * The CLI prints their message (no stack) and exits with their code: 1 for a user's mistake,
 * 2 for an environment problem (no /dev/fuse, no fusermount, an addon that does not load).
 * The one mapping of any error to its line and code is `failureReport` (daemon/advice.ts).
 */
export const ExitCode = { ok: 0, user: 1, environment: 2 } as const

export class PstoreSimError extends Error {
  readonly exitCode: number = ExitCode.user
  override name = 'PstoreSimError'
}

export class EnvironmentError extends PstoreSimError {
  override readonly exitCode: number = ExitCode.environment
  override name = 'EnvironmentError'
}

/** An error another process reported as a message and an exit code (a daemon, over IPC or its socket). */
export function errorWithExitCode(message: string, exitCode: number): PstoreSimError {
  return exitCode === ExitCode.environment ? new EnvironmentError(message) : new PstoreSimError(message)
}
