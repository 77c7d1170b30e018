#!/usr/bin/env bash
# Builds the sandbox image's busybox: static, against musl, with the applets agents and tests
# use. Why not Debian's busybox-static: its wget has no timeout option and its option parser
# writes through NULL on -T (exit 139, Segmentation fault, before any network call), and a
# static glibc cannot resolve names without the NSS libraries a FROM-scratch image lacks.
# Source: Debian's own busybox 1.35.0 tarball (checksum pinned); compiler: Debian's musl-tools.
# Idempotent and cached outside the clone; prints the path of the binary.
set -euo pipefail
CACHE="${AGENT_MACHINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-machine}"
VERSION=1.35.0
SHA256=faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694
URL="http://deb.debian.org/debian/pool/main/b/busybox/busybox_${VERSION}.orig.tar.bz2"
# Bump when the option list below changes.
RECIPE=2
OUT="$CACHE/busybox-musl/$VERSION-$RECIPE"
log() { echo "build-sandbox-busybox: $*" >&2; }

if [[ -x "$OUT/busybox" ]]; then echo "$OUT/busybox"; exit 0; fi

mkdir -p "$CACHE/busybox-musl"
exec 9>"$CACHE/busybox-musl/.lock"
flock 9
if [[ -x "$OUT/busybox" ]]; then echo "$OUT/busybox"; exit 0; fi

if ! command -v musl-gcc >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing musl-tools with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >&2 || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >&2; }
  else
    log "missing musl-gcc: install Debian's musl-tools"; exit 1
  fi
fi
for tool in curl bzip2 make; do command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }; done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "building busybox $VERSION against musl (once; cached in $OUT)"
curl -fsS --retry 3 -o "$work/src.tar.bz2" "$URL"
echo "$SHA256  $work/src.tar.bz2" | sha256sum -c --quiet -
tar -C "$work" -xjf "$work/src.tar.bz2"
cd "$work/busybox-$VERSION"
make -s allnoconfig >/dev/null
enable=(
  STATIC BUSYBOX LONG_OPTS FEATURE_SH_MATH FEATURE_SH_MATH_64
  ASH SH_IS_ASH ASH_BASH_COMPAT ASH_JOB_CONTROL ASH_ECHO ASH_PRINTF ASH_TEST ASH_GETOPTS ASH_CMDCMD ASH_OPTIMIZE_FOR_SIZE
  ECHO FEATURE_FANCY_ECHO SLEEP FEATURE_FANCY_SLEEP CAT ENV LS FEATURE_LS_FILETYPES FEATURE_LS_FOLLOWLINKS FEATURE_LS_RECURSIVE FEATURE_LS_SORTFILES FEATURE_LS_TIMESTAMPS FEATURE_LS_USERNAME
  HEAD FEATURE_FANCY_HEAD TAIL FEATURE_FANCY_TAIL ID WC FEATURE_WC_LARGE TRUE FALSE YES DD FEATURE_DD_SIGNAL_HANDLING FEATURE_DD_IBS_OBS FEATURE_DD_STATUS PRINTF
  GREP FEATURE_GREP_CONTEXT EGREP FGREP SED AWK FEATURE_AWK_LIBM MKDIR RM TOUCH SEQ DATE FEATURE_DATE_ISOFMT FEATURE_DATE_NANO OD TR SORT FEATURE_SORT_BIG UNIQ
  BASE64 SHA256SUM KILL PS TIMEOUT TEST TEST1 TEST2 FEATURE_TEST_64 CUT XARGS TEE MV CP LN STAT FIND FEATURE_FIND_NAME FEATURE_FIND_TYPE
  WGET FEATURE_WGET_LONG_OPTIONS FEATURE_WGET_TIMEOUT FEATURE_WGET_AUTHENTICATION FEATURE_WGET_HTTPS FEATURE_WGET_STATUSBAR
  NC NC_EXTRA NSLOOKUP FEATURE_NSLOOKUP_BIG FEATURE_NSLOOKUP_LONG_OPTIONS
  DF FEATURE_DF_FANCY DU FEATURE_DU_DEFAULT_BLOCKSIZE_1K FREE NPROC UNAME WHOAMI GROUPS LOGNAME SYNC TTY
  TAR FEATURE_TAR_CREATE FEATURE_TAR_GNU_EXTENSIONS FEATURE_TAR_FROM FEATURE_SEAMLESS_GZ GZIP GUNZIP ZCAT
  STRINGS WHICH TIME NL REV BASENAME DIRNAME EXPR EXPR_MATH_SUPPORT_64 HOSTNAME PWD MD5SUM SHA1SUM SHA512SUM
  CHMOD CHOWN REALPATH READLINK FEATURE_READLINK_FOLLOW USLEEP CMP DIFF HEXDUMP XXD MKTEMP RMDIR TRUNCATE
  PRINTENV NICE PIDOF PGREP PKILL KILLALL NOHUP MKFIFO FOLD PASTE SPLIT TAC SHUF COMM FLOCK SETSID INSTALL
  FEATURE_FIND_PRINT0 FEATURE_FIND_MAXDEPTH FEATURE_FIND_NEWER FEATURE_FIND_SIZE FEATURE_FIND_EXEC FEATURE_FIND_PATH FEATURE_FIND_NOT FEATURE_FIND_PAREN
  FEATURE_XARGS_SUPPORT_ZERO_TERM FEATURE_XARGS_SUPPORT_QUOTES WATCH TOP
  FEATURE_IPV6 FEATURE_PREFER_IPV4_ADDRESS VERBOSE_RESOLUTION_ERRORS
)
for o in "${enable[@]}"; do
  sed -i -e "s/^# CONFIG_$o is not set\$/CONFIG_$o=y/" .config
done
# New options the enabled ones pull in take their defaults.
yes '' | make -s oldconfig >/dev/null 2>&1 || true
for o in STATIC WGET FEATURE_WGET_TIMEOUT FEATURE_WGET_HTTPS ASH DF NPROC TAR; do
  grep -q "^CONFIG_$o=y" .config || { log "config lacks CONFIG_$o"; exit 1; }
done
# musl-gcc sees no kernel headers of its own; the few applets that need them take the system's.
make -s -j"$(nproc)" CC=musl-gcc HOSTCC=gcc EXTRA_CFLAGS="-idirafter /usr/include -idirafter /usr/include/x86_64-linux-gnu" busybox >&2
mkdir -p "$OUT.tmp"
cp busybox "$OUT.tmp/busybox"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "$OUT/busybox"
