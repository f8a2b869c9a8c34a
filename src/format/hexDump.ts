/**
 * A region captured as text, back into bytes: U-Boot's `md.b` / `md.w` / `md.l` (absolute
 * addresses, words printed as values of a little-endian board), `xxd` (byte groups in memory
 * order, or `xxd -e` little-endian words) and `hexdump -C` (with `*` for lines repeating the one
 * above). A line is data when it starts with a hex address; anything else (prompts, banners) is
 * passed over. Where a group's byte order is ambiguous, the dump's own character column decides.
 */
import { PstoreSimError } from '../util/errors.js'

export class HexDumpError extends PstoreSimError {
  override name = 'HexDumpError'
}

interface DataLine {
  line: number
  address: number
  groups: string[]
  ascii?: string
  /** hexdump -C's `*`: the line above repeats up to the next address */
  star?: boolean
}

const DATA = /^\s*([0-9a-fA-F]{4,16}):?(?:\s+(.*))?$/

function splitLine(text: string, line: number): DataLine | undefined {
  const trimmed = text.replace(/\r$/, '')
  if (trimmed.trim() === '*') return { line, address: -1, groups: [], star: true }
  const m = DATA.exec(trimmed)
  if (!m) return undefined
  let rest = m[2] ?? ''
  let ascii: string | undefined
  const bar = /\s\|(.*)\|\s*$/.exec(rest)
  if (bar) {
    ascii = bar[1]
    rest = rest.slice(0, bar.index)
  } else {
    // md and xxd: the character column follows the hex after two or more spaces
    const gap = /\S( {2,})/.exec(rest)
    if (gap) {
      ascii = rest.slice(gap.index + 1 + gap[1].length)
      rest = rest.slice(0, gap.index + 1)
    }
  }
  const groups = rest.trim() ? rest.trim().split(/\s+/) : []
  const width = groups[0]?.length ?? 0
  for (const g of groups) {
    if (!/^[0-9a-fA-F]+$/.test(g) || g.length !== width || width % 2 !== 0 || width > 16)
      throw new HexDumpError(`line ${line}: "${g}" is not a hex group like the others on the line (${trimmed.slice(0, 60)})`)
  }
  return { line, address: parseInt(m[1], 16), groups, ascii }
}

const printable = (c: number) => c > 0x20 && c < 0x7f && c !== 0x2e

/** A group's bytes (splitLine checked it is hex of even length), reversed when little-endian. */
function groupBytes(group: string, littleEndian: boolean): Buffer {
  const bytes = Buffer.from(group, 'hex')
  return littleEndian ? bytes.reverse() : bytes
}

/** A line's bytes: its groups in order, each reversed when little-endian. */
function lineBytes(groups: string[], littleEndian: boolean): Buffer {
  return littleEndian ? Buffer.concat(groups.map((g) => groupBytes(g, true))) : Buffer.from(groups.join(''), 'hex')
}

/** Which byte order of multi-byte groups the character columns agree with: votes over the dump. */
function littleEndianGroups(lines: DataLine[]): boolean {
  let le = 0
  let be = 0
  for (const l of lines) {
    if (!l.ascii || (l.groups[0]?.length ?? 0) <= 2) continue
    const asLe = lineBytes(l.groups, true)
    const asBe = lineBytes(l.groups, false)
    for (let i = 0; i < Math.min(asLe.length, l.ascii.length); i++) {
      const c = l.ascii.charCodeAt(i)
      if (!printable(c)) continue
      if (asLe[i] === c) le++
      if (asBe[i] === c) be++
    }
  }
  if (le !== be) return le > be
  // no text to tell: xxd's default groups (4 digits) are memory order, md.w/md.l print values
  const width = lines.find((l) => l.groups.length)?.groups[0].length ?? 2
  return width !== 4
}

/** The bytes of a captured region; refuses gaps and conflicting repeats with the line number. */
export function parseHexDump(text: string): { bytes: Buffer; baseAddress: number; dataLines: number } {
  const lines: DataLine[] = []
  text.split('\n').forEach((t, i) => {
    const l = splitLine(t, i + 1)
    if (l) lines.push(l)
  })
  if (!lines.some((l) => l.groups.length)) throw new HexDumpError('no dump lines (md.b/md.l, xxd or hexdump -C output with addresses)')
  const le = littleEndianGroups(lines)
  const base = lines.find((l) => !l.star)!.address
  const chunks: Buffer[] = []
  let end = 0 // bytes so far
  let previous: Buffer | undefined
  let pendingStar: DataLine | undefined
  const put = (at: number, bytes: Buffer, line: number) => {
    if (at > end)
      throw new HexDumpError(
        `line ${line}: address 0x${(base + at).toString(16)} leaves a gap after 0x${(base + end).toString(16)} (lines missing from the capture)`,
      )
    const overlap = Math.min(end - at, bytes.length)
    if (overlap > 0) {
      const have = Buffer.concat(chunks).subarray(at, at + overlap)
      if (!have.equals(bytes.subarray(0, overlap)))
        throw new HexDumpError(`line ${line}: address 0x${(base + at).toString(16)} repeats earlier bytes with different values`)
    }
    if (bytes.length > overlap) {
      chunks.push(bytes.subarray(overlap))
      end += bytes.length - overlap
    }
  }
  for (const l of lines) {
    if (l.star) {
      if (!previous) throw new HexDumpError(`line ${l.line}: "*" with no line above to repeat`)
      pendingStar = l
      continue
    }
    const at = l.address - base
    if (at < 0) throw new HexDumpError(`line ${l.line}: address 0x${l.address.toString(16)} is below the first line's 0x${base.toString(16)}`)
    if (pendingStar && previous) {
      if ((at - end) % previous.length !== 0) throw new HexDumpError(`line ${l.line}: the "*" of line ${pendingStar.line} does not end on a whole line`)
      while (end < at) put(end, previous, pendingStar.line)
      pendingStar = undefined
    }
    if (!l.groups.length) continue // hexdump's closing line: the length
    const bytes = lineBytes(l.groups, le && l.groups[0].length > 2)
    put(at, bytes, l.line)
    previous = bytes
  }
  if (pendingStar) throw new HexDumpError(`line ${pendingStar.line}: "*" at the end, with no address to repeat up to`)
  return { bytes: Buffer.concat(chunks), baseAddress: base, dataLines: lines.length }
}
