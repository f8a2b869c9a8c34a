/** Text in the SVG and HTML pictures (inspectPicture.ts, inspectPictureEfi.ts): escaped for XML, sizes in words. */

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text for XML: the five entities, and control characters XML 1.0 cannot hold as U+FFFD. */
export function escapeXml(s: string): string {
  let out = ''
  for (const ch of s) {
    const code = ch.charCodeAt(0)
    out += XML_ENTITIES[ch] ?? (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d ? '\ufffd' : ch)
  }
  return out
}

/** A size as people read it: MiB or KiB when whole, else bytes. */
export function sizeText(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} B`
}
