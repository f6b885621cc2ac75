#!/bin/sh
# enneo-edge preremove, shared by the .deb (prerm) and the .rpm (%preun).
# deb: "remove" or "upgrade"; rpm: 0 on removal, 1 on an upgrade. Only a
# removal stops and disables the service: an upgrade restarts it in the
# new package's postinstall instead.
set -e
case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl stop enneo-edge.service || true
fi
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable enneo-edge.service >/dev/null 2>&1 || true
fi
