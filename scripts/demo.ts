/**
 * `npm start`: a simulated pstore to play with. Creates a demo image laid out like a typical
 * device-tree ramoops node, lets the simulated kernel boot, print to the console, write to
 * /dev/pmsg0, trace a few functions and panic, reboots it, and mounts the result until Ctrl-C.
 *
 *   PSTORE_SIM_DEMO_DIR   where the image and mountpoint go (default /tmp/pstore-sim-demo)
 */
import fs from 'node:fs'
import path from 'node:path'
import { formatImage, mount } from '../src/index.js'
import { ImageSession } from '../src/machine/imageSession.js'

const DTS = `/dts-v1/;
/ {
	reserved-memory {
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;

		ramoops@8f000000 {
			compatible = "ramoops";
			reg = <0x0 0x8f000000 0x0 0x100000>;	/* 1 MiB */
			record-size = <0x8000>;			/* 32 KiB per dmesg record */
			console-size = <0x8000>;
			pmsg-size = <0x1000>;
			ftrace-size = <0x2000>;
		};
	};
};
`

async function main(): Promise<void> {
  const dir = process.env.PSTORE_SIM_DEMO_DIR ?? '/tmp/pstore-sim-demo'
  fs.mkdirSync(dir, { recursive: true })
  const image = path.join(dir, 'demo.img')
  const dtsFile = path.join(dir, 'ramoops.dts')
  const mountpoint = path.join(dir, 'pstore')
  fs.writeFileSync(dtsFile, DTS)

  await formatImage(image, { dtsFile }, { force: true })
  // The kernel's side of one boot, played on the image directly (no daemon yet).
  const session = ImageSession.open(image, {}, { readOnly: false })
  session.machine.console('systemd[1]: Started Journal Service.\nmyapp[412]: connecting to the modem\n')
  session.machine.pmsg(Buffer.from('myapp: last words before the crash\n'))
  session.machine.ftrace([
    { cpu: 0, ip: 0xffffffff81234560n, parentIp: 0xffffffff81200010n },
    { cpu: 0, ip: 0xffffffff81234890n, parentIp: 0xffffffff81234560n },
  ])
  session.machine.crash({ reason: 'panic', message: 'modem watchdog expired' })
  session.close()

  // Mounting is the reboot that finds the crash.
  const pstore = await mount(image, mountpoint)
  const files = fs.readdirSync(mountpoint).sort()
  process.stdout.write(`
pstore-sim demo: a machine booted, logged, traced and panicked; after its reboot the pstore is
mounted at ${mountpoint} (image ${image}, setup ${dtsFile}).

Files: ${files.join(', ')}

Try, in another terminal:
  ls -l ${mountpoint}
  cat ${mountpoint}/dmesg-ramoops-0
  echo "hello from userspace" > ${pstore.fifo}      # like /dev/pmsg0
  ${path.resolve('bin/pstore-sim')} reboot ${mountpoint}  # pmsg-ramoops-0 now holds it
  ${path.resolve('bin/pstore-sim')} panic ${mountpoint} --reason oops
  rm ${mountpoint}/dmesg-ramoops-0                   # erases the record from the image
  /lib/systemd/systemd-pstore ${mountpoint} /tmp/pstore-archive

Press Ctrl-C to unmount and exit.
`)
  const stop = async () => {
    await pstore.unmount()
    process.stdout.write('unmounted\n')
    process.exit(0)
  }
  process.once('SIGINT', () => void stop())
  process.once('SIGTERM', () => void stop())
  setInterval(() => undefined, 1 << 30)
}

main().catch((err: Error) => {
  process.stderr.write(`pstore-sim demo: ${err.message}\n`)
  process.exit(1)
})
