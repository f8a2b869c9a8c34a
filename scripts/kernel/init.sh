#!/bin/sh
# /init of the pstore-sim kernel harness initramfs (busybox sh). Built into the initramfs by
# scripts/kernel/prepare.sh; driven by test/kernel/harness.ts.
#
# Kernel command line:
#   pstoresim.ramoops=mem_address=0x8000000,mem_size=0x100000,...   ramoops module options
#   pstoresim.ramoops=builtin  ramoops is built in (custom kernels: parameters are ramoops.NAME=...)
#   pstoresim.blk=blkdev=/dev/vda,kmsg_size=64,best_effort=y   pstore/blk module options instead
#                 of ramoops (the virtio disk's modules first, then pstore_blk.ko)
#   pstoresim.erst=1  no ramoops or pstore_blk: the built-in ACPI ERST (QEMU's acpi-erst) is the backend
#   pstoresim.efi=1   no ramoops or pstore_blk: efi-pstore.ko over the firmware's variables (OVMF);
#                 pstoresim.efi=record_size=2048 passes module options (',' separates them)
#   pstoresim.region.N=mem_address=...,mem_size=...  ramoops options of region N (action region:N)
#   pstoresim.actions=list,rm:dmesg-ramoops-0,list,reload,list,panic
#   pstoresim.out=ttyS1        where the protocol goes (default ttyS1, falls back to console)
#
# Actions (comma separated, run in order after insmod + mount):
#   list          every file of /sys/fs/pstore: stat + sha256 + content (gzip, base64)
#   rm:NAME       rm /sys/fs/pstore/NAME
#   rmall         rm every file of /sys/fs/pstore (names unknown before the boot: a full efi store emptied)
#   reload        umount pstore, rmmod ramoops, insmod ramoops (same options), mount
#   region:N      the same onto region N (pstoresim.region.N's options): one boot, several regions
#   remount       umount + mount pstore (the backend is asked for its records again)
#   umount, mount
#   kmsg:TEXT     write TEXT to /dev/kmsg ('+' stands for a space)
#   sleep:SEC
#   params        print the module parameters (also done after every insmod)
#   panic         echo c > /proc/sysrq-trigger (sysrq crash = panic; does not return)
#   oops[:bug]    oops in a child process: NULL dereference, or BUG(), through LKDTM when the
#                 kernel has it (provoke-crash/DIRECT: EXCEPTION, BUG), else the helper module's
#                 /proc/pstoresim_oops; the kernel goes on (panic_on_oops=0)
#   warn          a WARN() (no dump)
#   pmsg:TEXT     one write of TEXT + newline to /dev/pmsg0 ('+' stands for a space)
#   ftrace:on|off echo 1|0 > /sys/kernel/debug/pstore/record_ftrace (function calls into the ftrace zones);
#                 on sets the global function filter (which pstore's ftrace ops follow) to vfs_write
#                 first: tracing every function patches every call site, which under TCG with 2 CPUs
#                 oopsed in text_poke_bp_batch, and records too fast to read back
#   kmsg-cpus:TEXT TEXT + " cpu N" to /dev/kmsg from each online CPU in turn (taskset)
# Protocol lines all start with "PSTORESIM-"; the last one is PSTORESIM-DONE (unless a panic).

/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin:/sbin TZ=UTC
exec </dev/console >/dev/console 2>&1
set -f

RAMOOPS=
BLK=
ERST=
EFI=
ACTIONS=
OUTDEV=ttyS1
for w in $(cat /proc/cmdline); do
  case "$w" in
    pstoresim.ramoops=*) RAMOOPS=${w#pstoresim.ramoops=} ;;
    pstoresim.blk=*) BLK=${w#pstoresim.blk=} ;;
    pstoresim.erst=*) ERST=${w#pstoresim.erst=} ;;
    pstoresim.efi=*) EFI=${w#pstoresim.efi=} ;;
    pstoresim.actions=*) ACTIONS=${w#pstoresim.actions=} ;;
    pstoresim.region.*=*) n=${w#pstoresim.region.}; n=${n%%=*}; case "$n" in *[!0-9]*) ;; *) echo "${w#*=}" > "/tmp/region-$n" ;; esac ;;
    pstoresim.out=*) OUTDEV=${w#pstoresim.out=} ;;
  esac
done

PROTO_TTY=
if [ -c "/dev/$OUTDEV" ] && stty -F "/dev/$OUTDEV" raw -echo 2>/dev/null; then
  exec 3>"/dev/$OUTDEV"
  PROTO_TTY=/dev/$OUTDEV
else
  exec 3>&1
fi
p() { echo "PSTORESIM-$*" >&3; }
# Before a panic or a power-off: wait until the UART has sent what the tty layer still holds.
# busybox stty applies its settings with TCSETSW (tcsetattr TCSADRAIN): the kernel returns once the
# port's buffer is empty and its transmitter idle (tty_wait_until_sent), and QEMU has written every
# byte the guest sent to the serial file by then. The settings are the ones already set. Without
# the tty (protocol on the console) a second's sleep stands in for it.
drain() {
  if [ -n "$PROTO_TTY" ] && stty -F "$PROTO_TTY" raw -echo 2>/dev/null; then return; fi
  sleep 1
}

PSTORE=/sys/fs/pstore
MODS=/lib/modules
RAMOOPS_ARGS=$(echo "$RAMOOPS" | tr ',' ' ')

read -r up _ </proc/uptime
p "BOOTED uptime=$up kernel=$(uname -r)"
p "CMDLINE $(cat /proc/cmdline)"
echo "pstoresim /init: ramoops=$RAMOOPS actions=$ACTIONS"

params() {
  p "PARAMS-BEGIN"
  set +f
  for f in /sys/module/ramoops/parameters/* /sys/module/pstore_blk/parameters/* /sys/module/pstore/parameters/*; do
    [ -f "$f" ] || continue
    v=$(cat "$f" 2>/dev/null) || v='?'
    p "PARAM ${f#/sys/module/} $v"
  done
  set -f
  p "PARAMS-END"
}

klog() {
  p "KLOG-BEGIN"
  dmesg | grep -iE 'ramoops|pstore|persistent_ram' | while IFS= read -r l; do p "KLOG $l"; done
  p "KLOG-END"
}

insmod_blk() {
  p "INSMOD-BLK args=$BLK"
  if out=$(insmod "$MODS/pstore_blk.ko" $(echo "$BLK" | tr ',' ' ') 2>&1); then
    p "INSMOD-OK"
  else
    p "INSMOD-FAIL $(echo $out)"
  fi
  klog
  params
}

# ERST registers at boot (built in): nothing to load, its log lines say whether it did
erst_klog() {
  p "ERST-BUILTIN"
  p "KLOG-BEGIN"
  dmesg | grep -iE 'ERST|pstore|APEI' | while IFS= read -r l; do p "KLOG $l"; done
  p "KLOG-END"
  params
}

insmod_efi() {
  args=; [ "$EFI" = 1 ] || args=$(echo "$EFI" | tr ',' ' ')
  p "INSMOD-EFI args=$args"
  if out=$(insmod "$MODS/efi-pstore.ko" $args 2>&1); then p "INSMOD-OK"; else p "INSMOD-FAIL $(echo $out)"; fi
  p "KLOG-BEGIN"
  dmesg | grep -iE 'efi|pstore' | while IFS= read -r l; do p "KLOG $l"; done
  p "KLOG-END"
  p "PARAMS-BEGIN"
  set +f
  for f in /sys/module/efi_pstore/parameters/* /sys/module/pstore/parameters/* /sys/module/printk/parameters/always_kmsg_dump; do
    [ -f "$f" ] || continue
    p "PARAM ${f#/sys/module/} $(cat "$f" 2>/dev/null)"
  done
  set -f
  p "PARAMS-END"
}

insmod_ramoops() {
  if [ -n "$EFI" ]; then insmod_efi; return; fi
  if [ -n "$ERST" ]; then erst_klog; return; fi
  if [ -n "$BLK" ]; then insmod_blk; return; fi
  if [ "$RAMOOPS" = builtin ]; then
    p "RAMOOPS-BUILTIN"
    klog
    params
    return
  fi
  p "INSMOD args=$RAMOOPS"
  if out=$(insmod "$MODS/ramoops.ko" $RAMOOPS_ARGS 2>&1); then
    p "INSMOD-OK"
  else
    p "INSMOD-FAIL $(echo $out)"
  fi
  klog
  params
}

do_mount() {
  mkdir -p $PSTORE
  if out=$(mount -t pstore pstore $PSTORE 2>&1); then p "MOUNT-OK"; else p "MOUNT-FAIL $(echo $out)"; fi
}

do_umount() {
  if out=$(umount $PSTORE 2>&1); then p "UMOUNT ok"; else p "UMOUNT fail $(echo $out)"; fi
}

listing() {
  tag=$1
  n=0
  p "LISTING-BEGIN tag=$tag"
  for f in $(ls $PSTORE); do
    path=$PSTORE/$f
    # one stat (%y is date, time and zone: three words) and one sha256sum, no pipes to cut or tr:
    # under TCG each process costs
    sum=$(sha256sum "$path" 2>/dev/null) && sum=${sum%% *} || sum=
    set -- $(stat -c '%s %a %f %u %g %Y %y' "$path")
    p "FILE tag=$tag name=$f size=$1 mode=$2 fmode=$3 uid=$4 gid=$5 mtime=$6 mtime_full=${7}_${8}_${9} sha256=${sum:-error}"
    # gzip'ed first: the UART (16-byte FIFO, an interrupt per refill under TCG) moved ~40 KB/s, and
    # a crash region's text files shrink 3-5 times; the host gunzips and checks the sha256 above
    p "B64-BEGIN tag=$tag name=$f enc=gzip"
    if gzip -c "$path" >/tmp/content.gz 2>/dev/null; then base64 </tmp/content.gz >&3; else p "READ-ERROR name=$f"; fi
    p "B64-END tag=$tag name=$f"
    n=$((n + 1))
  done
  p "LISTING-END tag=$tag count=$n"
}

debugfs() {
  [ -d /sys/kernel/debug/pstore ] || [ -d /sys/kernel/debug/provoke-crash ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
}

oops_helper() {
  debugfs
  [ -e /sys/kernel/debug/provoke-crash/DIRECT ] && return 0
  if [ ! -e /proc/pstoresim_oops ]; then
    if [ ! -f "$MODS/pstoresim_oops.ko" ]; then p "OOPS-UNSUPPORTED (no helper module)"; return 1; fi
    out=$(insmod "$MODS/pstoresim_oops.ko" 2>&1) || { p "OOPS-UNSUPPORTED insmod: $(echo $out)"; return 1; }
  fi
  return 0
}

# ---- modules: dependencies first (load-order), ramoops with the options
for m in $(cat $MODS/load-order); do
  [ "$m" = ramoops.ko ] && continue
  [ -z "$ERST$EFI" ] || continue
  out=$(insmod "$MODS/$m" 2>&1) || p "INSMOD-DEP-FAIL $m $(echo $out)"
done
if [ -n "$BLK" ]; then
  for m in $(cat $MODS/blk-load-order); do
    [ "$m" = pstore_blk.ko ] && continue
    out=$(insmod "$MODS/$m" 2>&1) || p "INSMOD-DEP-FAIL $m $(echo $out)"
  done
  dev=$(echo "$BLK" | tr ',' '\n' | sed -n 's/^blkdev=//p')
  i=0
  while [ -n "$dev" ] && [ ! -b "$dev" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  [ -z "$dev" ] || [ -b "$dev" ] || p "ERROR no block device $dev"
fi
insmod_ramoops
do_mount

step=0
for a in $(echo "$ACTIONS" | tr ',' ' '); do
  step=$((step + 1))
  p "ACTION step=$step action=$a"
  case "$a" in
    none) ;;
    list) listing "step$step" ;;
    rmall)
      n=0; set +f
      for f in "$PSTORE"/*; do [ -e "$f" ] || continue; rm "$f" && n=$((n + 1)); done
      set -f; p "RMALL count=$n"
      ;;
    rm:*)
      name=${a#rm:}
      if out=$(rm "$PSTORE/$name" 2>&1); then p "RM ok name=$name"; else p "RM fail name=$name $(echo $out)"; fi
      ;;
    reload)
      if [ "$RAMOOPS" = builtin ] || [ -n "$ERST" ]; then p "ERROR reload: the backend is built in"; continue; fi
      do_umount
      mod=ramoops; [ -z "$BLK" ] || mod=pstore_blk
      if out=$(rmmod $mod 2>&1); then p "RMMOD ok"; else p "RMMOD fail $(echo $out)"; fi
      insmod_ramoops
      do_mount
      ;;
    region:*)
      n=${a#region:}
      if [ -n "$BLK" ] || [ -n "$ERST" ] || [ "$RAMOOPS" = builtin ] || [ ! -f "/tmp/region-$n" ]; then p "ERROR $a: no such ramoops region"; continue; fi
      do_umount
      if out=$(rmmod ramoops 2>&1); then p "RMMOD ok"; else p "RMMOD fail $(echo $out)"; fi
      RAMOOPS=$(cat "/tmp/region-$n")
      RAMOOPS_ARGS=$(echo "$RAMOOPS" | tr ',' ' ')
      insmod_ramoops
      do_mount
      ;;
    remount) do_umount; do_mount ;;
    umount) do_umount ;;
    mount) do_mount ;;
    params) params ;;
    klog) klog ;;
    kmsg:*)
      echo "${a#kmsg:}" | tr '+' ' ' > /dev/kmsg
      p "KMSG ok"
      ;;
    pmsg:*)
      # one write(): pmsg keeps what each write hands it
      msg=$(echo "${a#pmsg:}" | tr '+' ' ')
      if printf '%s\n' "$msg" > /dev/pmsg0; then p "PMSG ok"; else p "PMSG fail"; fi
      ;;
    kmsg-cpus:*)
      msg=$(echo "${a#kmsg-cpus:}" | tr '+' ' ')
      c=0
      # the text as an argument, never as shell text
      while [ "$c" -lt "$(nproc)" ]; do
        taskset -c "$c" sh -c 'echo "$1 cpu $2" > /dev/kmsg' sh "$msg" "$c" && p "KMSG ok cpu $c"
        c=$((c + 1))
      done
      ;;
    ftrace:on|ftrace:off)
      debugfs
      filter=/sys/kernel/debug/tracing/set_ftrace_filter
      if [ "$a" = ftrace:on ] && [ -e $filter ]; then
        if echo vfs_write > $filter; then p "FTRACE filter vfs_write"; else p "FTRACE filter fail"; fi
      fi
      v=1; [ "$a" = ftrace:off ] && v=0
      if echo $v > /sys/kernel/debug/pstore/record_ftrace; then p "FTRACE ok $v"; else p "FTRACE fail $v"; fi
      ;;
    sleep:*) sleep "${a#sleep:}" ;;
    panic)
      p "PANIC-TRIGGER"
      drain
      echo c > /proc/sysrq-trigger
      p "PANIC-RETURNED"
      ;;
    oops|oops:*|warn)
      case "$a" in oops:bug) what=bug ;; warn) what=warn ;; *) what=null ;; esac
      if oops_helper; then
        p "OOPS-TRIGGER what=$what"
        drain
        if [ -e /sys/kernel/debug/provoke-crash/DIRECT ]; then
          case $what in bug) l=BUG ;; warn) l=WARNING ;; *) l=EXCEPTION ;; esac
          /bin/busybox sh -c "echo $l > /sys/kernel/debug/provoke-crash/DIRECT"
        else
          /bin/busybox sh -c "echo $what > /proc/pstoresim_oops"
        fi
        p "OOPS-DONE rc=$?"
      fi
      ;;
    *) p "ERROR unknown action $a" ;;
  esac
done

p "DONE"
sync
drain
poweroff -f
sleep 60
