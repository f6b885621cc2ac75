#!/bin/sh
# enneo-edge postinstall, shared by the .deb (postinst) and the .rpm (%post).
# deb: "configure" and the version replaced ("" on a first install);
# rpm: 1 on a first install, 2 on an upgrade.
set -e
case "$1" in
configure) if [ -z "$2" ]; then first=yes; else first=no; fi ;;
1) first=yes ;;
2) first=no ;;
*) exit 0 ;; # abort-upgrade, abort-remove: nothing was changed
esac

# Without systemd as PID 1 (a container, a chroot) there is nothing to
# reload or restart; enabling is a symlink and works offline.
running=no
if [ -d /run/systemd/system ]; then running=yes; fi
if [ "$running" = yes ]; then systemctl daemon-reload || true; fi

if [ "$first" = yes ]; then
	if command -v systemctl >/dev/null 2>&1; then
		systemctl enable enneo-edge.service >/dev/null 2>&1 || echo "enneo-edge: could not enable enneo-edge.service" >&2
	fi
	echo "enneo-edge: installed and enabled, not started."
	echo "  Edit /etc/enneo-edge/enneo-edge.toml (site.id, auth, upstream), then: systemctl start enneo-edge"
	exit 0
fi

# Upgrade: the new binary is in place; a restart drains the old process
# (SIGTERM: in-flight calls finish their commit) and starts the new one,
# which backs up and upgrades the database if its schema is older.
if [ "$running" = yes ]; then
	systemctl try-restart enneo-edge.service || echo "enneo-edge: restart failed: systemctl status enneo-edge" >&2
else
	echo "enneo-edge: systemd is not running; restart enneo-edge yourself to run the new version"
fi
