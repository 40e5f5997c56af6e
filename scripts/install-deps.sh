#!/bin/sh
# Installs the Debian packages that building, testing, the demo and the
# benchmarks need, and the unprivileged user the tests run sandboxes as.
# Idempotent: installs only what is missing. Usage: install-deps.sh GROUP...
# where GROUP is build, test, demo or bench.
set -eu

build="pkg-config libseccomp-dev libpixman-1-dev libxkbcommon-dev python3"
pkgs=""
for group in "$@"; do
  case "$group" in
    build) pkgs="$pkgs $build" ;;
    # Real clients the end-to-end tests run inside sandboxes.
    test)  pkgs="$pkgs $build python3 procps strace util-linux mount iproute2 curl passt slirp4netns nftables weston sway foot wayland-utils grim wtype wl-clipboard gtk-3-examples fonts-dejavu-core xkb-data"
           # Real desktop programs (tests/apps.rs, tests/browsers.rs, the X11
           # hint of tests/headless.rs); libreoffice-gtk3 is LibreOffice's
           # Wayland front end, qtwayland5 Qt 5's.
           pkgs="$pkgs firefox-esr chromium libreoffice-writer libreoffice-gtk3 keepassxc qtwayland5 gedit vim-nox unzip x11-apps"
           # The portal (tests/portal*.rs): the sandbox's bus, the apps whose
           # dialogs go through it (Qt's needs its portal plugin), GLib's
           # D-Bus for the tests' own bus clients and gdbus, and a host bus
           # with the desktop portal and a python3-dbus test backend
           # (tests/portal_window.rs).
           pkgs="$pkgs dbus-daemon gnome-text-editor evince qt5-xdgdesktopportal-platformtheme python3-gi gir1.2-glib-2.0 libglib2.0-bin xdg-desktop-portal python3-dbus"
           # Launchers (tests/desktop.rs): desktop-file-validate; gio
           # (libglib2.0-bin, above) launches them.
           pkgs="$pkgs desktop-file-utils"
           # X11 programs (tests/x11.rs): the Xwayland wsbox starts inside,
           # real X11 clients and tools (xeyes and xclock are in x11-apps),
           # xclip for the clipboard, a host X server to stay away from
           # (Xvfb), a hostile client (python3-xlib), and GIMP 2.10,
           # X11-only in Debian 12.
           pkgs="$pkgs xwayland xterm x11-utils xdotool xvfb xclip python3-xlib gimp"
           # Notifications from inside (tests/notifications.rs).
           pkgs="$pkgs libnotify-bin"
           # Accessibility (tests/a11y.rs): the proxy wsbox starts, the
           # host's accessibility bus, and a screen reader's library.
           pkgs="$pkgs xdg-dbus-proxy at-spi2-core python3-pyatspi"
           # The built-in profiles' programs (tests/profiles.rs) not named above.
           pkgs="$pkgs imv thunderbird"
           # Sound (tests/audio.rs): the test's host servers (PulseAudio,
           # and PipeWire with its pulse server and session manager), the
           # clients run inside (paplay, parec, pactl) and sox for tones.
           pkgs="$pkgs pulseaudio pulseaudio-utils sox pipewire pipewire-pulse wireplumber" ;;
    # dbus-daemon: the sandbox's bus, for the portal of every display mode.
    demo)  pkgs="$pkgs $build iproute2 fonts-dejavu-core xkb-data dbus-daemon" ;;
    bench) pkgs="$pkgs $build bubblewrap firejail weston sway waypipe gedit firefox-esr xwayland x11-apps xterm fonts-dejavu-core xkb-data dbus-daemon pulseaudio pulseaudio-utils sox" ;;
    *) echo "install-deps: unknown group $group" >&2; exit 2 ;;
  esac
done

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages:$missing (run as root, or: sudo apt-get install$missing)" >&2
    exit 1
  fi
  echo "install-deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The tests run sandboxes as root and as this unprivileged user; the
# benchmarks run sway (which refuses root) as it.
user="${WSBOX_TEST_USER:-wsbox-test}"
case " $* " in
  *" test "*|*" bench "*)
    if [ "$(id -u)" -eq 0 ] && ! id -u "$user" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
      echo "install-deps: created test user $user"
    fi ;;
esac

# Make the test host match a desktop Debian where a bare machine differs.
# A desktop's udev rule makes /dev/net/tun 0666, so that user-mode
# networking (pasta, slirp4netns) works for every user; a bare machine or
# container may leave it 0600, and then `--net user` run by a user fails
# (wsbox says so, naming the device).
case " $* " in
  *" test "*)
    tun=/dev/net/tun
    if [ "$(id -u)" -eq 0 ] && [ -c "$tun" ]; then
      mode=$(stat -c %a "$tun")
      if [ "$mode" != 666 ]; then
        chmod 0666 "$tun"
        echo "install-deps: made $tun 0666 (was 0$mode), as a desktop Debian's udev does"
      fi
    fi ;;
esac
