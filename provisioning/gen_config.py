#!/usr/bin/env python3
"""Generates what operators read about configuration from the daemons' own option tables, so
none of it can drift from the code:

  gen_config.py config    --out stream4flow.yml     BIN...   the shipped, commented config
  gen_config.py reference --out configuration.md    BIN...   docs/configuration.md
  gen_config.py man       --outdir docs/man         BIN...   s4f-<daemon>.8, stream4flow.yml.5

BIN are the daemon executables (s4f-collector, s4f-worker, s4f-sink, s4f-web, s4f-alert), in that order
of sections. Each is asked for --config-example (its section as commented YAML),
--config-reference (its tables as Markdown) and --help (usage, and the worker's analysis
tables, which --config-reference does not print yet). Output is written only when it changes,
so a build that regenerates it does not dirty the tree or trigger rebuilds.
"""
import argparse
import datetime
import os
import re
import subprocess
import sys
import textwrap

WRAP = 99


def run(binary, *args):
    out = subprocess.run([binary, *args], check=True, capture_output=True, text=True,
                         env={**os.environ, "LC_ALL": "C"})
    return out.stdout


class Opt:
    def __init__(self, section, key, typ, default, rng, help_text):
        self.section, self.key, self.type = section, key, typ
        self.default, self.range, self.help = default, rng, help_text


class Daemon:
    """What one binary says about itself."""

    def __init__(self, binary):
        self.binary = binary
        self.help = run(binary, "--help")
        self.example = run(binary, "--config-example")
        self.reference = run(binary, "--config-reference")
        first = self.help.splitlines()
        self.prog = first[0].split()[1]            # "Usage: s4f-collector [options]"
        self.name = self.prog[len("s4f-"):]
        self.summary = first[1].strip() if len(first) > 1 else ""
        self.sections = {}                         # "collector" -> [Opt], in table order
        self._parse_markdown()
        self._parse_help_tables()

    def _add(self, opt):
        self.sections.setdefault(opt.section, []).append(opt)

    def _parse_markdown(self):
        for line in self.reference.splitlines():
            if not line.startswith("| `"):
                continue
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) != 5:
                continue
            path, typ, default, rng, desc = cells
            path = path.strip("`")
            section, key = path.rsplit(".", 1)
            default = default[1:-1] if default.startswith("`") else None
            self._add(Opt(section, key, typ, default, rng, desc))

    def _parse_help_tables(self):
        """Sections that only --help shows (the worker's analyses)."""
        lines = self.help.splitlines()
        i = 0
        while i < len(lines):
            m = re.match(r"Options of section '([^']+):'", lines[i])
            i += 1
            if not m:
                continue
            section = m.group(1)
            fresh = section not in self.sections
            while i + 1 < len(lines) and lines[i].startswith("  ") and \
                    lines[i + 1].startswith("      "):
                head, desc = lines[i], lines[i + 1].strip()
                i += 2
                hm = re.match(r"\s+(\S+)\s+(\S+)\s+default: (.*)$", head)
                if not hm or not fresh:
                    continue
                key, typ, rest = hm.groups()
                default, rng = rest, ""
                if typ == "enum" and "; " in rest:
                    default, rng = rest.split("; ", 1)
                elif "; " in rest and " .. " in rest.rsplit("; ", 1)[1]:
                    default, rng = rest.rsplit("; ", 1)
                if default == "(none)":
                    default = None
                self._add(Opt(section, key, typ, default, rng, desc))

    def cli_options(self):
        """(flags, description) of the command-line options in --help."""
        out, inside = [], False
        for line in self.help.splitlines():
            if line == "Options:":
                inside = True
                continue
            if inside and not line.strip():
                break
            if inside:
                toks = line.split()
                n = 0
                while n < len(toks) and (toks[n].startswith("-") or
                                         re.fullmatch(r"\[?[A-Z]+\]?,?", toks[n])):
                    n += 1
                if n == 0 and out:   # continuation line
                    out[-1] = (out[-1][0], out[-1][1] + " " + " ".join(toks))
                else:
                    out.append((" ".join(toks[:n]), " ".join(toks[n:])))
        return out

    def extra_help(self):
        """The worker's list of analyses: name, summary."""
        m = re.search(r"\nAnalyses \([^)]*\):\n((?:  \S.*\n)+)", self.help)
        if not m:
            return []
        return [tuple(re.split(r"\s{2,}", l.strip(), 1)) for l in m.group(1).splitlines()]


# ---- YAML ---------------------------------------------------------------------------------

def yaml_value(o):
    if o.type in ("map", "section"):
        return None
    if o.default is None:
        return None
    if o.type == "list":
        return o.default if o.default.startswith("[") else "[%s]" % o.default
    if o.type == "string":
        return '"%s"' % o.default.replace("\\", "\\\\").replace('"', '\\"')
    return o.default


def yaml_option(o, indent):
    pad = " " * indent
    lines = ["%s# %s (%s)" % (pad, o.help, o.type)]
    v = yaml_value(o)
    if o.type in ("map", "section"):
        lines.append("%s# %s: {}" % (pad, o.key))
    elif v is None:
        lines.append("%s# %s:" % (pad, o.key))
    else:
        lines.append("%s%s: %s" % (pad, o.key, v))
    return lines


def wrap_comments(text):
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\s*)# (.*)$", line)
        if m and len(line) > WRAP:
            out += textwrap.wrap(m.group(2), WRAP - len(m.group(1)) - 2,
                                 initial_indent=m.group(1) + "# ",
                                 subsequent_indent=m.group(1) + "#   ",
                                 break_on_hyphens=False, break_long_words=False)
        else:
            out.append(line)
    return "\n".join(out) + "\n"


KAFKA_SECTION = """\
# librdkafka properties shared by every daemon, passed through untouched after Stream4Flow's
# own defaults (see docs/operations.md and librdkafka's CONFIGURATION.md for version 2.0). A
# kafka: map inside a daemon's section overrides them for that daemon only.
kafka:
  # Brokers to bootstrap from (string)
  bootstrap.servers: "127.0.0.1:9092"
  # Kafka with TLS and SASL authentication (docs/operations.md, "TLS and authentication"):
  # security.protocol: SASL_SSL
  # ssl.ca.location: /etc/stream4flow/kafka-ca.pem
  # sasl.mechanisms: SCRAM-SHA-512
  # sasl.username: stream4flow
  # sasl.password: "change me"
  # Producer back-pressure (collector): a bounded queue, full means records wait
  # collector.queue_full_wait and are then dropped and counted.
  # queue.buffering.max.messages: 500000
  # queue.buffering.max.kbytes: 262144
  # linger.ms: 5
"""


def daemon_example(d):
    """The binary's --config-example, with nested tables it leaves out (worker analyses)
    written in place of their '# key: {}' placeholder."""
    text = d.example
    for key_line in re.findall(r"^(\s*)# (\w+): \{\}$", text, re.M):
        indent, key = key_line
        prefix = "%s.%s." % (d.name, key)
        subs = [s for s in d.sections if s.startswith(prefix)]
        if not subs:
            continue
        block = ["%s%s:" % (indent, key)]
        for s in subs:
            block.append("%s  %s:" % (indent, s[len(prefix):]))
            for o in d.sections[s]:
                block += yaml_option(o, len(indent) + 4)
        if any("<" in s for s in subs):
            # A table of named entries the operator adds (alert destinations): an example,
            # commented out, since a placeholder name is no valid entry.
            block = [re.sub(r"^(\s*)(# )?", lambda m: m.group(1) + "# ", l, count=1)
                     for l in block]
        text = text.replace("%s# %s: {}\n" % (indent, key), "\n".join(block) + "\n", 1)
    return text


def gen_config(daemons):
    parts = ["""\
# Stream4Flow configuration (/etc/stream4flow/stream4flow.yml), read by every daemon.
#
# Generated from the daemons' option tables (--config-example) by provisioning/gen_config.py:
# every option is here with its default and what it does. Each daemon reads the shared
# kafka: (and, for the sink and web, elasticsearch:) sections and its own; unknown keys are
# errors. After editing, check with
#   s4f-collector --check-config /etc/stream4flow/stream4flow.yml   (and s4f-worker, s4f-sink,
#   s4f-web, s4f-alert)
# Durations: 250ms, 10s, 5m, 2h, 1d (a bare number is seconds). Sizes: 512, 64k, 16M, 1G.
"""]
    parts.append(KAFKA_SECTION)
    have_es = any(re.search(r"^elasticsearch:", d.example, re.M) for d in daemons)
    es = next((d.sections["elasticsearch"] for d in daemons if "elasticsearch" in d.sections),
              None)
    if es and not have_es:
        lines = ["# Elasticsearch (or OpenSearch), read by the sink and the web server.",
                 "elasticsearch:"]
        for o in es:
            lines += yaml_option(o, 2)
        parts.append("\n".join(lines) + "\n")
    for d in daemons:
        parts.append("# s4f-%s: %s\n" % (d.name, d.summary) + daemon_example(d))
    return wrap_comments("\n".join(parts))


# ---- Markdown -----------------------------------------------------------------------------

def md_escape(s):
    return s.replace("|", "\\|")


def gen_reference(daemons):
    out = ["""\
# Configuration reference

<!-- Generated by docs/generate.sh from the daemons' option tables: edit the tables in the
     code, not this file. -->

One YAML file, `/etc/stream4flow/stream4flow.yml` by default (`--config FILE` elsewhere), holds
a section per daemon and two shared ones. Unknown keys and bad values are errors naming file,
line and column; `s4f-<daemon> --check-config FILE` validates a file and exits. The shipped file
(`provisioning/stream4flow.yml`, installed as `/etc/stream4flow/stream4flow.yml`) lists every
option below with its default.

Value syntax: durations `250ms`, `10s`, `5m`, `2h`, `1d` (a bare number is seconds); sizes
`512`, `64k`, `16M`, `1G` (powers of 1024); lists `[a, b]` or one scalar.

## `kafka:` (shared)

librdkafka properties, passed through untouched after Stream4Flow's defaults, for every
daemon; a `kafka:` map inside a daemon's section overrides them for that daemon. At least
`bootstrap.servers` is needed. TLS and SASL settings go here (see
[operations.md](operations.md#kafka-with-tls-and-authentication)).

Stream4Flow's producer defaults: `enable.idempotence=true`, `acks=all`, `linger.ms=5`,
`compression.codec=lz4`, `queue.buffering.max.messages=500000`,
`queue.buffering.max.kbytes=262144`, `batch.num.messages=10000`, `message.timeout.ms=300000`.
Consumer defaults: `enable.auto.commit=false`, `auto.offset.reset=earliest`,
`session.timeout.ms=10000`, `heartbeat.interval.ms=1000`, `fetch.wait.max.ms=100`.
"""]
    done = set()
    for d in daemons:
        for section, opts in d.sections.items():
            if section in done:
                continue
            done.add(section)
            users = [x.prog for x in daemons if section in x.sections]
            title = "shared: %s" % ", ".join(users) if section == "elasticsearch" else d.prog
            out.append("## `%s:` (%s)\n" % (section, title))
            if section == d.name:
                out.append(d.summary + "\n")
            out.append("| key | type | default | range | description |\n|---|---|---|---|---|")
            for o in opts:
                out.append("| `%s` | %s | %s | %s | %s |" % (
                    o.key, o.type, "`%s`" % o.default if o.default is not None else "",
                    md_escape(o.range), md_escape(o.help)))
            out.append("")
    return "\n".join(out)


# ---- man pages ----------------------------------------------------------------------------

def roff(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", s, flags=re.M)


def man_options(opts):
    out = []
    for o in opts:
        out.append(".TP\n.B %s\n(%s%s%s)\n%s" % (
            roff(o.key), o.type,
            ", default " + roff(o.default) if o.default is not None else "",
            "; " + roff(o.range) if o.range else "", roff(o.help)))
    return "\n".join(out)


def man_header(name, sec, version, title):
    return ('.TH "%s" "%s" "" "Stream4Flow %s" "%s"\n'
            % (name.upper(), sec, version, title))


def gen_man_daemon(d, version):
    out = [man_header(d.prog, 8, version, "Stream4Flow daemons"),
           ".SH NAME\n%s \\- %s" % (roff(d.prog), roff(d.summary.rstrip("."))),
           ".SH SYNOPSIS\n.B %s\n[\\fIoptions\\fR]" % roff(d.prog),
           ".SH DESCRIPTION\n%s" % roff(d.summary)]
    an = d.extra_help()
    if an:
        out.append("The analyses (a key of \\fBworker.analyses\\fR, the instance name of "
                   "\\fBs4f-worker@.service\\fR):")
        for name, summary in an:
            out.append(".TP\n.B %s\n%s" % (roff(name), roff(summary)))
    out.append(".SH OPTIONS")
    for flags, desc in d.cli_options():
        out.append(".TP\n.B %s\n%s" % (roff(flags), roff(desc)))
    out.append(".SH CONFIGURATION\nThe daemon reads the shared \\fBkafka:\\fR section "
               "(librdkafka properties, passed through) and these sections of "
               "\\fI/etc/stream4flow/stream4flow.yml\\fR; see \\fBstream4flow.yml\\fR(5).")
    for section, opts in d.sections.items():
        out.append(".SS %s:\n%s" % (roff(section), man_options(opts)))
    out.append(""".SH SIGNALS
.TP
.B SIGTERM, SIGINT
The first drains: input stops, open work is finished and flushed, offsets are committed,
within \\fBshutdown_grace\\fR. A second one, or the grace running out, stops at once.
.TP
.B SIGHUP
Ignored; restart the daemon to apply a changed configuration.""")
    out.append(""".SH EXIT STATUS
0 on a clean stop (or a valid configuration with \\fB\\-\\-check\\-config\\fR), 1 otherwise.
.SH FILES
.TP
.I /etc/stream4flow/stream4flow.yml
The configuration.
.TP
.I /lib/systemd/system/%s
The systemd unit.
.SH SEE ALSO
.BR stream4flow.yml (5),
.BR systemctl (1),
\\fI/usr/share/doc/stream4flow/operations.md\\fR""" % (
        "s4f-worker@.service" if d.name == "worker" else d.prog + ".service"))
    return "\n".join(out) + "\n"


def gen_man_config(daemons, version):
    out = [man_header("stream4flow.yml", 5, version, "Stream4Flow configuration"),
           ".SH NAME\nstream4flow.yml \\- configuration of the Stream4Flow daemons",
           ".SH DESCRIPTION\nOne YAML file, \\fI/etc/stream4flow/stream4flow.yml\\fR, is read "
           "by every daemon: the shared \\fBkafka:\\fR section (librdkafka properties, passed "
           "through untouched; a \\fBkafka:\\fR map inside a daemon's section overrides them), "
           "the shared \\fBelasticsearch:\\fR section (sink and web) and one section per "
           "daemon. Unknown keys and bad values are errors naming file, line and column.",
           ".PP\nDurations: 250ms, 10s, 5m, 2h, 1d (a bare number is seconds). Sizes: 512, "
           "64k, 16M, 1G (powers of 1024). Lists: [a, b] or one scalar."]
    done = set()
    for d in daemons:
        for section, opts in d.sections.items():
            if section in done:
                continue
            done.add(section)
            out.append(".SH %s:\n%s" % (roff(section.upper()), man_options(opts)))
    out.append(".SH SEE ALSO\n" + ",\n".join(".BR %s (8)" % d.prog for d in daemons))
    return "\n".join(out) + "\n"


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["config", "reference", "man"])
    ap.add_argument("--out")
    ap.add_argument("--outdir")
    ap.add_argument("--version", default="dev")
    ap.add_argument("--docs-prefix", help="install prefix the binaries were built for; "
                    "reference and man pages show the package's /usr instead")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    daemons = [Daemon(b) for b in a.binaries]
    if a.docs_prefix and a.docs_prefix.rstrip("/") != "/usr" and a.what != "config":
        old = a.docs_prefix.rstrip("/") + "/"
        for d in daemons:
            for opts in d.sections.values():
                for o in opts:
                    if o.default:
                        o.default = o.default.replace(old, "/usr/")
    if a.what == "config":
        write_if_changed(a.out, gen_config(daemons))
    elif a.what == "reference":
        write_if_changed(a.out, gen_reference(daemons))
    else:
        os.makedirs(a.outdir, exist_ok=True)
        for d in daemons:
            write_if_changed(os.path.join(a.outdir, d.prog + ".8"), gen_man_daemon(d, a.version))
        write_if_changed(os.path.join(a.outdir, "stream4flow.yml.5"),
                         gen_man_config(daemons, a.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
