#!/usr/bin/env bash
# Installs the Arm cross compiler and QEMU from Debian's packages when they are missing.
# As root it installs them; with password-less sudo it uses sudo; otherwise it prints the
# exact command and what stays skipped until it is run. Quick when all is present.
set -u
pkgs="gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm"
if command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null; then
    exit 0
fi
cmd="apt-get update && apt-get install -y --no-install-recommends $pkgs"
if [ "$(id -u)" = 0 ]; then
    echo "toolchain: installing $pkgs (about 40 s, once)"
    sh -c "$cmd" >/tmp/repcount-apt.log 2>&1 || { cat /tmp/repcount-apt.log; exit 1; }
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "toolchain: installing $pkgs through sudo (about 40 s, once)"
    sudo sh -c "$cmd" >/tmp/repcount-apt.log 2>&1 || { cat /tmp/repcount-apt.log; exit 1; }
else
    cat <<MSG
toolchain: the Arm cross compiler and QEMU are missing and cannot be installed without root.
  Run:  sudo sh -c '$cmd'
  Until then the emulated-board build, 'repcount emulate' and the HIL suite against the
  emulator are skipped; everything on the host still works.
MSG
fi
exit 0
