/**
 * `inspect --svg/--html` for a UEFI variable store: the whole file to scale (firmware volume
 * header, store header, variables, free space, the NV event log and the fault-tolerant-write
 * working block and spare area), the variable store zoomed below it (every variable to scale at
 * its offset: OVMF's 540 KiB store of ~1 KiB variables stays legible), then one row per
 * variable with its offset, size, name, state (live, deleted, in delete transition), whose it is
 * (efi-pstore's or the firmware's) and the target kernel's verdict with the file and its time.
 * Only a store of very many variables folds runs of firmware and deleted ones into one row.
 */

import type { EfiArea, EfiDescription, EfiVariableDescription } from '../backend/efi/description.js'
import { imageSizeInJson } from '../backend/setup.js'
import type { Inspection } from '../machine/inspect.js'
import { escapeXml, sizeText } from './svgText.js'

const W = 1000
const ROW = 22
const hex = (n: number) => '0x' + n.toString(16)

export const EFI_COLOURS: Record<string, string> = {
  lists: '#2e9d4a',
  'enc.z': '#8e44ad',
  'ends-read-pass': '#f08c00',
  'not-read': '#e6c229',
  duplicate: '#d0342c',
  ignored: '#c5ccd3',
  skipped: '#4a78c2',
  'fv-header': '#34495e',
  'store-header': '#5d6d7e',
  free: '#f4f6f8',
  reserved: '#dcdcdc',
  'ftw-working': '#8e6c3a',
  'ftw-spare': '#d9c7a7',
}

const LEGEND: Array<[string, string]> = [
  ['lists', 'listed'],
  ['enc.z', '.enc.z'],
  ['ends-read-pass', 'ends the read pass'],
  ['not-read', 'not read'],
  ['ignored', 'deleted / replaced'],
  ['skipped', "firmware's"],
  ['fv-header', 'headers'],
  ['ftw-working', 'FTW'],
]

/** A stretch drawn in a bar: an area or a variable, with its colour key. */
interface Piece {
  offset: number
  size: number
  key: string
  what: string
}

const owner = (v: EfiVariableDescription) => (v.pstore || v.guid === 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0' ? 'pstore' : 'firmware')
const stateOf = (v: EfiVariableDescription) => (!v.live ? 'deleted' : v.inTransition ? 'in-transition' : 'live')
const fateOf = (v: EfiVariableDescription) => v.verdict?.fate ?? (v.live ? 'skipped' : 'ignored')

function pieces(e: EfiDescription): Piece[] {
  const areas: Piece[] = e.areas.map((a: EfiArea) => ({ offset: a.offset, size: a.size, key: a.kind, what: a.kind }))
  const vars: Piece[] = e.variables.map((v) => ({ offset: v.offset, size: v.size, key: fateOf(v), what: 'variable' }))
  return [...areas, ...vars].sort((a, b) => a.offset - b.offset)
}

/** One bar of [from, to) drawn to scale; runs of one colour narrower than 3 px are one rectangle. */
function bar(id: string, all: Piece[], from: number, to: number, y: number): string[] {
  const span = to - from
  const x = (o: number) => (((o - from) / span) * W).toFixed(3)
  const inside = all.filter((p) => p.offset + p.size > from && p.offset < to)
  const out = [`<g id="${id}"><rect x="0" y="${y}" width="${W}" height="30" fill="#fff" stroke="#555"/>`]
  let runStart = 0
  for (let i = 1; i <= inside.length; i++) {
    if (i < inside.length && inside[i].key === inside[runStart].key && (inside[i].size / span) * W < 3) continue
    const a = inside[runStart]
    const b = inside[i - 1]
    const start = Math.max(from, a.offset)
    const end = Math.min(to, b.offset + b.size)
    out.push(
      `<rect class="piece" data-kind="${escapeXml(a.what === 'variable' ? 'variable' : a.key)}" data-fate="${escapeXml(a.key)}" x="${x(start)}" y="${y}" width="${(((end - start) / span) * W).toFixed(3)}" height="30" fill="${EFI_COLOURS[a.key] ?? '#999'}" stroke="#fff" stroke-width="0.3"/>`,
    )
    runStart = i
  }
  const ticks = [0, 0.25, 0.5, 0.75, 1].map(
    (f) =>
      `<text x="${(f * W).toFixed(0)}" y="${y + 44}" font-size="11" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}">${hex(Math.round(from + f * span))}</text>`,
  )
  return [...out, ...ticks, '</g>']
}

interface EfiRow {
  vars: EfiVariableDescription[]
  area?: EfiArea
}

/** Past this many variables, runs of the firmware's and of deleted variables fold into one row each. */
const FOLD_ABOVE = 600

/**
 * Variables and areas in file order, one row each; in a store of more than FOLD_ABOVE variables
 * (OVMF's 540 KiB store holds a few hundred) runs of firmware variables of one fate, and of
 * deleted variables, fold into one row so the picture stays a readable length.
 */
function efiRows(e: EfiDescription): EfiRow[] {
  const fold = e.variables.length > FOLD_ABOVE
  const items: Array<{ offset: number; row: EfiRow }> = [
    ...e.areas.map((a) => ({ offset: a.offset, row: { vars: [], area: a } })),
    ...e.variables.map((v) => ({ offset: v.offset, row: { vars: [v] } })),
  ].sort((a, b) => a.offset - b.offset)
  const out: EfiRow[] = []
  for (const { row } of items) {
    const last = out[out.length - 1]
    const v = row.vars[0]
    const foldable = (x: EfiVariableDescription) => (owner(x) === 'firmware' || !x.live) && fateOf(x) !== 'ends-read-pass'
    if (fold && v && last && !last.area && foldable(v) && foldable(last.vars[0]) && fateOf(v) === fateOf(last.vars[0]) && owner(v) === owner(last.vars[0]))
      last.vars.push(v)
    else out.push(row)
  }
  return out
}

function areaRow(a: EfiArea, y: number): string {
  return [
    `<g class="area" data-kind="${a.kind}">`,
    `<rect x="0" y="${y - 14}" width="12" height="16" fill="${EFI_COLOURS[a.kind] ?? '#999'}" stroke="#555" stroke-width="0.5"/>`,
    `<text x="18" y="${y}" font-size="12" font-family="monospace">${escapeXml(a.label)}</text>`,
    `<text x="330" y="${y}" font-size="12" font-family="monospace">${hex(a.offset)}</text>`,
    `<text x="420" y="${y}" font-size="12" font-family="monospace">${sizeText(a.size)}</text>`,
    '</g>',
  ].join('')
}

function variableRow(r: Inspection, row: EfiRow, y: number, recordSize: number): string {
  const v = row.vars[0]
  const last = row.vars[row.vars.length - 1]
  const fate = fateOf(v)
  const many = row.vars.length > 1
  const label = many ? `${owner(v) === 'pstore' ? 'efi-pstore' : 'firmware'} variables ×${row.vars.length}` : v.name
  const size = many ? last.offset + last.size - v.offset : v.size
  const file = !many && v.verdict?.file ? r.records.find((x) => x.name === v.verdict?.file) : undefined
  const verdict = v.verdict
  const note = many
    ? `${stateOf(v)}${fate === 'ignored' ? ': ignored' : fate === 'skipped' ? ': skipped by efi-pstore' : `: ${fate}`}`
    : `${stateOf(v)}${v.pstore ? ` id ${v.pstore.id}` : ''}: ${file ? `${file.name}${file.mtime ? ` @ ${file.mtime}` : ''}` : (verdict?.fate ?? '')}${verdict && verdict.fate !== 'lists' && verdict.fate !== 'skipped' && verdict.fate !== 'ignored' ? ` (${verdict.why})` : ''}`
  const fill = Math.min(1, v.dataSize / recordSize)
  const dash = stateOf(v) === 'live' ? '' : ' stroke-dasharray="3,2"'
  return [
    `<g class="variable" data-owner="${owner(v)}" data-state="${stateOf(v)}" data-fate="${fate}" data-offset="${v.offset}" data-count="${row.vars.length}">`,
    `<rect x="0" y="${y - 14}" width="12" height="16" fill="${EFI_COLOURS[fate] ?? '#999'}"/>`,
    `<text x="18" y="${y}" font-size="12" font-family="monospace">${escapeXml(label.length > 40 ? `${label.slice(0, 39)}…` : label)}</text>`,
    `<text x="330" y="${y}" font-size="12" font-family="monospace">${hex(v.offset)}</text>`,
    `<text x="420" y="${y}" font-size="12" font-family="monospace">${sizeText(size)}</text>`,
    many
      ? ''
      : `<rect x="500" y="${y - 12}" width="120" height="12" fill="#fff" stroke="#555"${dash}/><rect class="fill" x="500" y="${y - 12}" width="${(fill * 120).toFixed(1)}" height="12" fill="${EFI_COLOURS[fate] ?? '#999'}"/>`,
    `<text x="630" y="${y}" font-size="12">${escapeXml(note)}</text>`,
    '</g>',
  ].join('')
}

/** The SVG document of an efi store. */
export function renderEfiSvg(r: Inspection, e: EfiDescription): string {
  const total = imageSizeInJson(r.setup)
  const all = pieces(e)
  const rows = efiRows(e)
  const top = 230
  const height = top + rows.length * ROW + 40
  const pstoreCount = e.variables.filter((v) => owner(v) === 'pstore').length
  const title = `efi ${sizeText(total)} (${hex(total)} bytes), kernel ${r.setup.kernel}: ${e.variables.length} variables (${pstoreCount} efi-pstore's), ${r.records.length} record(s)`
  const store = e.store
  const legend = LEGEND.map(
    ([key, word], i) =>
      `<g class="legend"><rect x="${810 + (i % 4) * 122}" y="${25 + Math.floor(i / 4) * 15}" width="10" height="10" fill="${EFI_COLOURS[key]}" stroke="#555" stroke-width="0.5"/><text x="${824 + (i % 4) * 122}" y="${34 + Math.floor(i / 4) * 15}" font-size="11">${word}</text></g>`,
  )
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W + 300} ${height}" width="${W + 300}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="0" y="20" font-size="16" font-weight="bold" id="title">${escapeXml(title)}</text>`,
    `<text x="0" y="42" font-size="12" fill="#444">${escapeXml(r.image)}${e.invalid ? escapeXml(`: INVALID: ${e.invalid}`) : ''}</text>`,
    ...legend,
    `<text x="0" y="56" font-size="11" fill="#444">the whole file</text>`,
    ...bar('overview', all, 0, total, 60),
    ...(store
      ? [
          `<text x="0" y="126" font-size="11" fill="#444">${escapeXml(`the variable store ${hex(store.start)}..${hex(store.end)}, zoomed: ${sizeText(store.freeBytes)} free, ${store.deletedBytes} bytes deleted`)}</text>`,
          ...bar('store', all, store.start, store.end, 130),
        ]
      : []),
    ...[
      [18, 'variable / area'],
      [330, 'offset'],
      [420, 'size'],
      [500, 'data / record_size'],
      [630, "state: the kernel's verdict, record @ time"],
    ].map(([x, word]) => `<text x="${x}" y="${top - 16}" font-size="11" fill="#444">${word}</text>`),
    ...rows.map((row, i) =>
      row.area ? areaRow(row.area, top + i * ROW) : variableRow(r, row, top + i * ROW, e.bufsize ?? (r.setup.backend === 'efi' ? r.setup.record_size : 0)),
    ),
    '</svg>',
  ].join('\n')
}
