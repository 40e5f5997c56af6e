# wsbox — `make demo` shows a confined program, `make test` checks everything.
# Both install what they need first (Debian packages, the test user).

SHELL := /bin/bash
CARGO ?= cargo
PROBE := target/debug/wsbox-probe
WSBOX := target/debug/wsbox

.PHONY: all build demo test lint unit bench clean fuzz install

all: build

build:
	./scripts/install-deps.sh build
	$(CARGO) build --workspace --bins

DEMO_PNG := target/demo.png

# Runs real programs in the default sandbox and shows what they can see: a
# Wayland client drawing its view (screenshot in target/demo.png), a shell,
# and wsbox-probe.
demo:
	./scripts/install-deps.sh demo
	$(CARGO) build --workspace --bins
	@echo
	@echo "== a Wayland client in its own compositor: what it can see =="
	@echo "   ($(if $(WAYLAND_DISPLAY),in a marked window of your session for 10 s,headless))"
	$(WSBOX) run $(if $(WAYLAND_DISPLAY),--display window,--headless) \
	  --screenshot $(DEMO_PNG) --timeout $(if $(WAYLAND_DISPLAY),10,3) \
	  --ro $(CURDIR)/target/debug/demo-client:/opt/demo-client -- /opt/demo-client \
	  || test $$? -eq 124
	@echo "screenshot of the sandbox's output: $(DEMO_PNG)"
	@echo
	@echo "== wsbox run --display none -- sh: a shell's view of its sandbox =="
	$(WSBOX) run --display none -- sh -c '\
	  echo "id:          $$(id)"; \
	  echo "hostname:    $$(hostname)"; \
	  echo "/:           "$$(ls /); \
	  echo "home:        $$HOME, holding [$$(ls -A ~)]"; \
	  echo "/dev:        "$$(ls /dev); \
	  echo "processes:   "$$(ls /proc | grep -E "^[0-9]+$$"); \
	  echo "network:     "$$(ip -brief link); \
	  echo "/etc/shadow: $$(cat /etc/shadow 2>&1)"; \
	  echo "write /usr:  $$(touch /usr/x 2>&1)"; \
	  echo "limits:      $$(df -h /tmp | awk "NR==2 {print \$$2}") of tmpfs for /tmp, ~ and the rest together; $$(ulimit -n) open files; cgroup $$(cut -d: -f3 /proc/self/cgroup | sort -u | tr "\n" " ")"'
	@echo
	@echo "== wsbox-probe inside the sandbox: privileges, mounts, refused syscalls =="
	$(WSBOX) run --display none --ro $(CURDIR)/$(PROBE):/opt/wsbox-probe -- /opt/wsbox-probe

lint:
	./scripts/install-deps.sh build
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	python3 scripts/check-structure.py

# CI sets CI=true; then no sandbox test may skip.
test: export WSBOX_MUST_WORK := $(if $(filter true,$(CI)),1,$(WSBOX_MUST_WORK))
test:
	./scripts/install-deps.sh test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	python3 scripts/check-structure.py
	$(CARGO) build --workspace --bins
	@# Every test binary runs even when one fails; the summary comes either way.
	@# The tests run in a cgroup delegated to the test user (as a desktop's
	@# systemd delegates one), so that its sandboxes get cgroups too.
	@set -o pipefail; status=0; \
	  ./scripts/delegate-cgroup.py $${WSBOX_TEST_USER:-wsbox-test} -- \
	    $(CARGO) test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt || status=1; \
	  $(CARGO) test --example bench 2>&1 | tee -a target/test-output.txt || status=1; \
	  $(if $(filter true,$(CI)),$(MAKE) --no-print-directory fuzz 2>&1 | tee -a target/test-output.txt || status=1;) \
	  awk '/^test result:/ { p += $$4; f += $$6; i += $$8 } \
	    END { printf "%d passed, %d failed, %d skipped\n", p, f, i }' target/test-output.txt; \
	  exit $$status

# The compositor's fuzzer for FUZZ_SECS seconds after its corpus
# (compositor/fuzz/corpus.txt); `make test` runs it under CI=true.
FUZZ_SECS ?= 120
fuzz:
	WSBOX_FUZZ_SECS=$(FUZZ_SECS) $(CARGO) test -p wsbox-compositor --lib tests::fuzz::fuzz -- --nocapture

bench:
	./scripts/install-deps.sh bench
	$(CARGO) build --release --workspace --bins --examples
	$(CARGO) run --release --example bench -- --json target/bench.json

# Installs wsbox, its man pages and its bash, zsh and fish completions under
# $(DESTDIR)$(PREFIX); the pages and scripts come from the binary itself
# (`wsbox man`, `wsbox completions`), so they name every option it has.
PREFIX ?= /usr/local
BINDIR := $(DESTDIR)$(PREFIX)/bin
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1
SHAREDIR := $(DESTDIR)$(PREFIX)/share
RELEASE := target/release/wsbox

install:
	./scripts/install-deps.sh build
	$(CARGO) build --release --bin wsbox
	install -d $(BINDIR) $(MANDIR) $(SHAREDIR)/bash-completion/completions \
	  $(SHAREDIR)/zsh/site-functions $(SHAREDIR)/fish/vendor_completions.d
	install -m 0755 $(RELEASE) $(BINDIR)/wsbox
	$(RELEASE) man $(MANDIR) >/dev/null
	chmod 0644 $(MANDIR)/wsbox*.1
	$(RELEASE) completions bash > $(SHAREDIR)/bash-completion/completions/wsbox
	$(RELEASE) completions zsh > $(SHAREDIR)/zsh/site-functions/_wsbox
	$(RELEASE) completions fish > $(SHAREDIR)/fish/vendor_completions.d/wsbox.fish
	@# D-Bus activation of `wsbox session` (org.wsbox.Manager1) on the
	@# session bus.
	install -d $(SHAREDIR)/dbus-1/services
	sed 's|@bindir@|$(PREFIX)/bin|' data/org.wsbox.Manager1.service.in \
	  > $(SHAREDIR)/dbus-1/services/org.wsbox.Manager1.service
	chmod 0644 $(SHAREDIR)/dbus-1/services/org.wsbox.Manager1.service

clean:
	$(CARGO) clean
