/**
 * `inspect --svg FILE` / `--html FILE`: the region as a picture. A bar of the whole image to
 * scale (every zone at its offset and size; runs of alike zones drawn as one rectangle, so a
 * 256 MiB region of 4 KiB zones stays a small file), then one row per zone (runs of alike empty
 * zones folded into one row): offset, size, how full the ring is, where it wraps, the signature
 * and ECC state as a colour, the kernel's verdict and the record it becomes, with its time.
 * Every text from the dump is escaped; the SVG has no script. An efi variable store has its own
 * drawing (inspectPictureEfi.ts).
 */

import { imageSizeInJson } from '../backend/setup.js'
import type { Inspection, ZoneInspection } from '../machine/inspect.js'
import { renderEfiSvg } from './inspectPictureEfi.js'
import { escapeXml, sizeText } from './svgText.js'

const W = 1000
const ROW = 22
const hex = (n: number) => '0x' + n.toString(16)

const COLOURS: Record<string, string> = {
  keeps: '#2e9d4a',
  valid: '#2e9d4a',
  empty: '#b8c0c8',
  zaps: '#d0342c',
  'ends-read-pass': '#f08c00',
  'not-read': '#e6c229',
  'enc.z': '#8e44ad',
  free: '#b8c0c8',
  used: '#2e9d4a',
}

function fateOf(z: ZoneInspection): string {
  if (z.verdict) return z.verdict.fate
  if (!z.signatureValid) return z.used ? 'zaps' : 'empty'
  return z.used > 0 ? 'keeps' : 'empty'
}

interface Row {
  zones: ZoneInspection[]
  fate: string
}

/** Consecutive zones of one type, all empty (or all free ERST slots), fold into one row. */
function rows(zones: ZoneInspection[]): Row[] {
  const out: Row[] = []
  for (const z of zones) {
    const fate = fateOf(z)
    const last = out[out.length - 1]
    if (last && fate === 'empty' && last.fate === 'empty' && last.zones[0].type === z.type) last.zones.push(z)
    else out.push({ zones: [z], fate })
  }
  return out
}

/** ERST: each slot as a zone, so one picture serves every backend. */
function zonesOf(r: Inspection): ZoneInspection[] {
  if (!r.erst) return r.zones
  const size = r.erst.header.recordSize || (r.setup.backend === 'erst' ? r.setup.record_size : 0)
  const first = r.erst.header.storageOffset / size
  return r.erst.slots.map((s) => ({
    type: s.recordId === null ? 'free slot' : `slot ${s.section ?? 'record'}`,
    index: s.slot,
    offset: (first + s.slot) * size,
    size,
    capacity: size,
    signature: s.recordId ?? '',
    signatureValid: s.recordId !== null && !s.error,
    start: 0,
    used: s.recordId === null ? 0 : (s.length ?? size),
    bootOutcome: s.recordId === null ? 'free' : (s.error ?? 'used'),
  }))
}

function overview(r: Inspection, zones: ZoneInspection[], total: number): string[] {
  const x = (o: number) => ((o / total) * W).toFixed(3)
  const out = [`<g id="overview"><rect x="0" y="60" width="${W}" height="36" fill="#f4f6f8" stroke="#555"/>`]
  // runs of zones with one fate are one rectangle; separators only where a zone is 3 px or wider
  let runStart = 0
  for (let i = 1; i <= zones.length; i++) {
    if (i < zones.length && fateOf(zones[i]) === fateOf(zones[runStart]) && (zones[i].size / total) * W < 3) continue
    const a = zones[runStart]
    const b = zones[i - 1]
    out.push(
      `<rect class="overview-zone" data-fate="${fateOf(a)}" x="${x(a.offset)}" y="60" width="${x(b.offset + b.size - a.offset)}" height="36" fill="${COLOURS[fateOf(a)] ?? '#999'}" stroke="#fff" stroke-width="0.5"/>`,
    )
    runStart = i
  }
  const ticks = [0, 0.25, 0.5, 0.75, 1].map(
    (f) =>
      `<text x="${(f * W).toFixed(0)}" y="112" font-size="11" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}">${hex(Math.round(f * total))}</text>`,
  )
  return [...out, ...ticks, '</g>']
}

function recordFor(r: Inspection, z: ZoneInspection): { name: string; mtime: string | null } | undefined {
  const name = z.verdict?.file
  if (name) return r.records.find((x) => x.name === name)
  return undefined
}

function rowSvg(r: Inspection, row: Row, y: number): string {
  const z = row.zones[0]
  const last = row.zones[row.zones.length - 1]
  const label = row.zones.length > 1 ? `${z.type}[${z.index}–${last.index}] ×${row.zones.length}` : `${z.type}[${z.index}]`
  const fill = z.capacity > 0 ? Math.min(1, Math.max(0, z.used / z.capacity)) : 0
  const barX = 470
  const barW = 220
  const wraps = z.used === z.capacity && z.start > 0 && z.start < z.capacity
  const wrap = wraps
    ? `<line class="wrap" x1="${barX + (z.start / z.capacity) * barW}" y1="${y - 13}" x2="${barX + (z.start / z.capacity) * barW}" y2="${y + 3}" stroke="#000" stroke-width="2"/>`
    : ''
  const ecc = z.ecc ? (z.ecc.badBlocks ? ' ECC: bad blocks' : z.ecc.correctedBytes ? ' ECC: corrected' : ' ECC ok') : ''
  const record = recordFor(r, z)
  const note = record ? `${record.name}${record.mtime ? ` @ ${record.mtime}` : ''}` : (z.verdict?.fate ?? z.bootOutcome)
  return [
    `<g class="zone" data-type="${escapeXml(z.type)}" data-index="${z.index}" data-fate="${row.fate}" data-count="${row.zones.length}">`,
    `<rect x="0" y="${y - 14}" width="12" height="16" fill="${COLOURS[row.fate] ?? '#999'}"/>`,
    `<text x="18" y="${y}" font-size="12" font-family="monospace">${escapeXml(label)}</text>`,
    `<text x="210" y="${y}" font-size="12" font-family="monospace">${hex(z.offset)}</text>`,
    `<text x="320" y="${y}" font-size="12" font-family="monospace">${sizeText(row.zones.length > 1 ? last.offset + last.size - z.offset : z.size)}</text>`,
    `<rect x="${barX}" y="${y - 12}" width="${barW}" height="12" fill="#fff" stroke="${z.signatureValid ? '#555' : '#d0342c'}" stroke-width="${z.signatureValid ? 1 : 2}"/>`,
    `<rect class="fill" x="${barX}" y="${y - 12}" width="${(fill * barW).toFixed(1)}" height="12" fill="${COLOURS[row.fate] ?? '#999'}"/>`,
    wrap,
    `<text x="700" y="${y}" font-size="12">${escapeXml(`${Math.round(fill * 100)}%${z.signatureValid ? '' : ' bad signature'}${ecc} ${note}`)}</text>`,
    '</g>',
  ].join('')
}

/** The SVG document; `width` scales on screen, the drawing keeps its proportions. */
export function renderSvg(r: Inspection): string {
  if (r.efi) return renderEfiSvg(r, r.efi)
  const zones = zonesOf(r)
  const total = imageSizeInJson(r.setup)
  const list = rows(zones)
  const height = 150 + list.length * ROW + 40
  const backend = r.erst ? 'erst' : r.blk ? 'pstore/blk' : 'ramoops'
  const title = `${backend} ${sizeText(total)} (${hex(total)} bytes), kernel ${r.setup.kernel}: ${zones.length} ${r.erst ? 'slots' : 'zones'}, ${r.records.length} record(s)`
  const header = [
    `<text x="0" y="20" font-size="16" font-weight="bold" id="title">${escapeXml(title)}</text>`,
    `<text x="0" y="42" font-size="12" fill="#444">${escapeXml(r.image)}</text>`,
    `<text x="0" y="140" font-size="11" fill="#444" font-family="monospace">zone                      offset        size          fullness (| = ring wraps)  state, record @ time</text>`,
  ]
  const legend = Object.entries({
    keeps: 'kept',
    empty: 'empty',
    zaps: 'zapped',
    'ends-read-pass': 'ends the read pass',
    'not-read': 'not read',
    'enc.z': '.enc.z',
  }).map(
    ([fate, word], i) =>
      `<g class="legend"><rect x="${560 + i * 120}" y="${28}" width="10" height="10" fill="${COLOURS[fate]}"/><text x="${574 + i * 120}" y="37" font-size="11">${word}</text></g>`,
  )
  const body = list.map((row, i) => rowSvg(r, row, 168 + i * ROW))
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W + 300} ${height}" width="${W + 300}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...header,
    ...legend,
    ...overview(r, zones, total),
    ...body,
    '</svg>',
  ].join('\n')
}

/** The SVG with every record's text beside it. */
export function renderHtml(r: Inspection): string {
  const records = r.records.map((rec) => {
    const text = rec.contentBase64 !== undefined ? Buffer.from(rec.contentBase64, 'base64').toString('utf8') : ''
    return `<section class="record"><h3>${escapeXml(rec.name)} <small>${rec.size} bytes${rec.mtime ? `, ${escapeXml(rec.mtime)}` : ''}</small></h3><pre>${escapeXml(text)}</pre></section>`
  })
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeXml(`pstore-sim: ${r.image}`)}</title>`,
    '<style>body{font-family:sans-serif;margin:12px;display:flex;gap:16px;align-items:flex-start}#picture{flex:0 0 64%}#picture svg{width:100%;height:auto}#records{flex:1 1 auto;min-width:320px}pre{white-space:pre-wrap;font-size:11px;background:#f6f6f6;padding:6px;max-height:400px;overflow:auto}</style>',
    '</head><body>',
    `<div id="picture">${renderSvg(r)}</div>`,
    `<div id="records"><h2>records</h2>${records.join('\n') || '<p>none</p>'}</div>`,
    '</body></html>',
  ].join('\n')
}
