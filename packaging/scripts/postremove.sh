#!/bin/sh
# enneo-edge postremove, shared by the .deb (postrm) and the .rpm (%postun).
# The database is the site's call history and outbox: a removal keeps it,
# only "dpkg --purge" deletes it (rpm has no purge: delete it by hand).
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
case "$1" in
purge)
	# DynamicUser=yes keeps the state in /var/lib/private/enneo-edge and
	# makes /var/lib/enneo-edge a symlink to it.
	if [ -e /var/lib/enneo-edge ] || [ -e /var/lib/private/enneo-edge ]; then
		rm -rf /var/lib/enneo-edge /var/lib/private/enneo-edge
		echo "enneo-edge: purged: deleted the database in /var/lib/enneo-edge"
	fi
	;;
remove | 0)
	if [ -e /var/lib/enneo-edge ]; then
		echo "enneo-edge: kept the database in /var/lib/enneo-edge (dpkg --purge enneo-edge, or rm -rf /var/lib/enneo-edge /var/lib/private/enneo-edge, deletes it)"
	fi
	;;
esac
