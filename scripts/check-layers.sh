#!/usr/bin/env bash
# The layering of corelb's top-level modules, and the check that the source keeps it.
#
# Usage: scripts/check-layers.sh [SRC_DIR]      (default: src/ of this repository)
#
# It derives every edge between top-level modules of SRC_DIR (a module is a directory with a
# mod.rs, or a file NAME.rs beside lib.rs) from the source itself:
#   - `use crate::X…` and `pub use crate::X…` (re-exports too), grouped imports
#     `use crate::{X::…, Y}` (also over several lines), and `crate::X::` paths used inline;
#   - `super::super::…` chains that climb out of the module to the crate root and name another
#     top-level module (inline `mod NAME {` blocks are counted when climbing).
# #[cfg(test)] code counts like any other code: a test that reaches up ties the layers
# together just as well. Comments (doc links included) and string literals do not count: they
# are no dependency of the compiled code. lib.rs (only `mod` lines) and main.rs (the binary,
# a client of the library like tests/ and bench/) are not part of the layering.
#
# It prints the edge list (from -> to, number of uses, first use) and fails, naming file:line
# of each use, when an edge points up or sideways in LAYERS below, when an edge closes a cycle,
# or when a top-level module has no layer.
set -eu

# The one declaration of the layer order, bottom first. A module may use modules of lower
# lines only; modules on one line never use each other. docs/design.md draws this as a tree.
LAYERS=(
	"sys"
	"h1 proxy_protocol tls"
	"acl"
	"config"
	"log stick"
	"cluster"
	"net stats dns"
	"proxy health"
	"runtime"
)

src="${1:-$(dirname "$0")/../src}"
if [ ! -d "$src" ]; then
	echo "check-layers: no directory $src" >&2
	exit 2
fi
cd "$src"

# Top-level modules: directories with a mod.rs, files beside lib.rs.
modules=""
for d in */mod.rs; do
	[ -e "$d" ] && modules="$modules ${d%/mod.rs}"
done
for f in *.rs; do
	case "$f" in lib.rs | main.rs) ;; *) [ -e "$f" ] && modules="$modules ${f%.rs}" ;; esac
done

layers=$(printf '%s|' "${LAYERS[@]}")

phase1=$(
	cat <<'AWK'
# ---- phase 1: every use of another top-level module, as "from to file line" ----
function is_ident(ch) { return ch ~ /[A-Za-z0-9_]/ }
function reset_file(   parts, n, i) {
	blk = 0; instr = 0; rawhash = 0; depth = 0; nmod = 0; ingroup = 0
	n = split(FILENAME, parts, "/")
	top = parts[1]; sub(/\.rs$/, "", top)
	base = n
	if (parts[n] == "mod.rs") base = n - 1
}
# The line with comments and the insides of string and char literals blanked; the lexer
# state (block comment depth, open string) carries over to the next line.
function strip(line,   out, i, n, c, nx, rest) {
	out = ""; n = length(line); i = 1
	while (i <= n) {
		c = substr(line, i, 1); nx = substr(line, i + 1, 1)
		if (blk > 0) {
			if (c == "*" && nx == "/") { blk--; i += 2; out = out "  "; continue }
			if (c == "/" && nx == "*") { blk++; i += 2; out = out "  "; continue }
			out = out " "; i++; continue
		}
		if (instr == 1) {
			if (c == "\\") { out = out "  "; i += 2; continue }
			if (c == "\"") { instr = 0; out = out "\""; i++; continue }
			out = out " "; i++; continue
		}
		if (instr == 2) {
			if (c == "\"" && substr(line, i + 1, rawhash) == substr(hashes, 1, rawhash)) {
				instr = 0; out = out "\""; i += 1 + rawhash; continue
			}
			out = out " "; i++; continue
		}
		if (c == "/" && nx == "/") break
		if (c == "/" && nx == "*") { blk = 1; out = out "  "; i += 2; continue }
		if ((c == "r" || c == "b") && (i == 1 || !is_ident(substr(line, i - 1, 1)))) {
			rest = substr(line, i)
			if (match(rest, /^b?r#*"/)) {
				rawhash = RLENGTH - 2 - (c == "b")
				instr = 2; out = out "\""; i += RLENGTH; continue
			}
		}
		if (c == "\"") { instr = 1; out = out "\""; i++; continue }
		if (c == q) {
			# A char literal (x, an escape) or a lifetime (nothing to blank).
			if (nx == "\\") {
				rest = substr(line, i + 2)
				if (index(rest, q)) { out = out q q; i += 2 + index(rest, q); continue }
			} else if (substr(line, i + 2, 1) == q) { out = out q q; i += 3; continue }
		}
		out = out c; i++
	}
	return out
}
function edge(to) {
	if (to != top && (" " modules " ") ~ (" " to " ")) print top, to, FILENAME, FNR
}
# Inside `{…}` after a path that reached the crate root: the first name of each element at
# the group's own depth is a top-level module. Returns where the group ended (0: still open).
function group(code, i,   n, c) {
	n = length(code)
	while (i <= n) {
		c = substr(code, i, 1)
		if (c == "{") { gdepth++; gexpect = (gdepth == 1); i++; continue }
		if (c == "}") { gdepth--; i++; if (gdepth == 0) { ingroup = 0; return i }; continue }
		if (c == "," && gdepth == 1) { gexpect = 1; i++; continue }
		if (gexpect && is_ident(c)) {
			match(substr(code, i), /^[A-Za-z0-9_]+/)
			edge(substr(code, i, RLENGTH)); gexpect = 0; i += RLENGTH; continue
		}
		if (c !~ /[ \t]/) gexpect = 0
		i++
	}
	return 0
}
# What follows a path prefix that reached the crate root (a name or a group).
function at_root(code, i,   rest) {
	rest = substr(code, i)
	if (match(rest, /^[ \t]*\{/)) { ingroup = 1; gdepth = 0; return group(code, i + RLENGTH - 1) }
	if (match(rest, /^[A-Za-z_][A-Za-z0-9_]*/)) { edge(substr(rest, 1, RLENGTH)); return i + RLENGTH }
	return i
}
function paths(code,   i, rest, pre, nsup, lvl, seg) {
	i = 1
	if (ingroup) { i = group(code, 1); if (!i) return }
	while (1) {
		rest = substr(code, i)
		if (!match(rest, /(crate|super)::/)) return
		pre = (i + RSTART - 2 >= 1) ? substr(code, i + RSTART - 2, 1) : ""
		if (pre != "" && (is_ident(pre) || pre == ":")) { i += RSTART + RLENGTH - 1; continue }
		if (substr(rest, RSTART, 5) == "crate") { i = at_root(code, i + RSTART - 1 + RLENGTH); if (ingroup) return; continue }
		match(rest, /(super::)+/)
		nsup = RLENGTH / 7
		i += RSTART - 1 + RLENGTH
		# The module path is base directories/files plus the inline modules open here.
		lvl = base + nmod
		if (nsup == lvl) { i = at_root(code, i); if (ingroup) return }
	}
}
# `mod NAME {` opens an inline module: super counts from inside it until its brace closes.
function braces(code,   i, n, c, m) {
	m = 0
	if (match(code, /(^|[^A-Za-z0-9_])mod[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*\{/)) m = RSTART + RLENGTH - 1
	n = length(code)
	for (i = 1; i <= n; i++) {
		c = substr(code, i, 1)
		if (c == "{") { depth++; if (i == m) modat[++nmod] = depth }
		else if (c == "}") { if (nmod > 0 && modat[nmod] == depth) nmod--; depth-- }
	}
}
BEGIN { hashes = "################################" }
FNR == 1 { reset_file() }
{
	code = (index($0, "\"") || index($0, q) || index($0, "/") || blk || instr) ? strip($0) : $0
	paths(code)
	braces(code)
}
AWK
)

phase2=$(
	cat <<'AWK'
# ---- phase 2: the edge list, the layer rule, cycles ----
{
	k = $1 " " $2
	if (!(k in uses)) { order[++nk] = k; first[k] = $3 ":" $4; adj[$1] = adj[$1] " " $2 }
	uses[k]++
	sites[k] = sites[k] "\n    " $3 ":" $4
}
# Is `to` reachable from `from`? The path found is left in `via`.
function reach(from, to, seen,   list, n, j, nxt) {
	if (from == to) { via = to; return 1 }
	if (from in seen) return 0
	seen[from] = 1
	n = split(adj[from], list, " ")
	for (j = 1; j <= n; j++) {
		nxt = list[j]
		if (reach(nxt, to, seen)) { via = from " -> " via; return 1 }
	}
	return 0
}
END {
	n = split(layers, ls, "|")
	for (i = 1; i <= n; i++) {
		m = split(ls[i], names, " ")
		for (j = 1; j <= m; j++) layer[names[j]] = i
	}
	bad = 0
	m = split(modules, mods, " ")
	for (j = 1; j <= m; j++)
		if (!(mods[j] in layer)) {
			printf "check-layers: module %s has no layer in LAYERS (scripts/check-layers.sh)\n", mods[j] > "/dev/stderr"
			bad = 1
		}
	print "edges between top-level modules (from -> to: uses, first use):"
	for (e = 1; e <= nk; e++) {
		k = order[e]; split(k, ft, " ")
		printf "  %s -> %s: %d, %s\n", ft[1], ft[2], uses[k], first[k]
	}
	for (e = 1; e <= nk; e++) {
		k = order[e]; split(k, ft, " "); f = ft[1]; t = ft[2]
		layered = (f in layer) && (t in layer)
		split("", seen)
		via = ""
		cyc = reach(t, f, seen) ? sprintf(" closes a cycle (%s -> %s)", f, via) : ""
		if (layered && layer[t] >= layer[f]) {
			printf "check-layers: %s -> %s points %s (layer %d -> %d)%s:%s\n", f, t,
				(layer[t] > layer[f]) ? "up" : "sideways", layer[f], layer[t],
				cyc == "" ? "" : " and" cyc, sites[k] > "/dev/stderr"
			bad = 1
		} else if (cyc != "" && !layered) {
			# With every module layered, a cycle always contains an edge reported above.
			printf "check-layers: %s -> %s%s:%s\n", f, t, cyc, sites[k] > "/dev/stderr"
			bad = 1
		}
	}
	exit bad
}
AWK
)

find . -name '*.rs' ! -path './lib.rs' ! -path './main.rs' | sed 's|^\./||' | LC_ALL=C sort |
	xargs awk -v modules="$modules" -v q="'" "$phase1" |
	awk -v layers="$layers" -v modules="$modules" "$phase2"
