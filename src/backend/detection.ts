/** What `--detect` finds (backend/detect.ts and each backend's own detect.ts): the types they share. */
import type { DetectedRamoops } from './ramoops/detect.js'
import type { SetupSource } from './setup.js'

export interface SetupForms {
  moduleParams: string
  cmdline: string
  devicetree?: string
  /** ERST, efi: the QEMU options that make or use such a file. */
  qemu?: string
  /** The setup flags pstore-sim takes for it (`--backend efi …`). */
  pstoreSim: string
  /** U-Boot's `pstore set` arguments, or why U-Boot cannot read this layout. */
  uboot: { args?: string; why?: string; caveats: string[] }
}

export interface Detection {
  backend: 'ramoops' | 'blk' | 'erst' | 'efi'
  /** The setup, as a sidecar would keep it (target: what the bytes tell, the user's given over it). */
  source: SetupSource
  /** What the bytes told, one line each. */
  told: string[]
  unknowns: string[]
  forms: SetupForms
  ramoops?: DetectedRamoops
}
