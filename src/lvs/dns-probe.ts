// A DNS query over UDP for `verify` (a udp service is probed with the query its inventory names).
// The client runs a small Perl program using only perl-base (IO::Socket::INET, on every Debian and
// Red Hat host): one fresh socket per query, so IPVS schedules each as a new connection.
import { type Script, sh } from '../core/shell.js';

// Perl 5.8-compatible (the seed's oldest hosts). One line per query: "dns ok A1 A2..." (the A
// records of the answer, sorted) or "dns fail WHY". A reply counts only when its id matches, it
// is a response (QR) and its rcode is 0.
const DNS_QUERY_PL = `use strict; use IO::Socket::INET;
my ($host, $port, $name, $n, $t) = @ARGV;
my $q = ''; $q .= chr(length $_) . $_ for grep { length } split /\\./, $name; $q .= "\\0";
sub skip { my ($b, $p) = @_; while (1) { my $l = ord(substr($b, $p, 1)); return $p + 2 if ($l & 0xc0) == 0xc0; $p++; return $p if $l == 0; $p += $l } }
for my $i (1 .. $n) {
  my $id = int(rand(65536));
  my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'udp');
  if (!$s) { print "dns fail socket: $!\\n"; next }
  $s->send(pack('nnnnnn', $id, 0x0100, 1, 0, 0, 0) . $q . pack('nn', 1, 1));
  my $rin = ''; vec($rin, fileno($s), 1) = 1; my $buf;
  if (!select(my $rout = $rin, undef, undef, $t)) { print "dns fail timeout\\n"; close $s; next }
  if (!defined $s->recv($buf, 4096)) { print "dns fail recv: $!\\n"; close $s; next }
  close $s;
  my @a; my $why = eval {
    my ($rid, $fl, $qd, $an) = unpack('nnnn', $buf);
    return 'short reply' unless defined $an;
    return 'reply id differs' if $rid != $id;
    return 'not a response' unless $fl & 0x8000;
    return 'rcode ' . ($fl & 15) if $fl & 15;
    my $p = 12; $p = skip($buf, $p) + 4 for 1 .. $qd;
    for (1 .. $an) {
      $p = skip($buf, $p);
      my ($ty, $cl, $ttl, $len) = unpack("x$p nnNn", $buf); $p += 10;
      push @a, join('.', unpack("x$p C4", $buf)) if $ty == 1 && $len == 4;
      $p += $len;
    }
    return @a ? '' : 'no A record';
  };
  $why = "bad reply: $@" unless defined $why;
  print $why eq '' ? 'dns ok ' . join(' ', sort @a) . "\\n" : "dns fail $why\\n";
}
`;

/** `n` queries (type A for `name`) to host:port, each from a fresh socket, waiting `timeout` s for each. */
export const dnsQueries = (host: string, port: number, name: string, n: number, timeout: number): Script =>
  sh`perl -e ${DNS_QUERY_PL} ${host} ${String(port)} ${name} ${String(n)} ${String(timeout)}`;

/** One entry per query: the answer (its A records) or undefined for a failed query. */
export function parseDnsReplies(stdout: string): (string | undefined)[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('dns '))
    .map((l) => (l.startsWith('dns ok ') ? l.slice('dns ok '.length) : undefined));
}
