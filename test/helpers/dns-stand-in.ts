// A STAND-IN DNS responder for tests (Debian's busybox has no dnsd, and the lab images carry no
// DNS server): perl-base only, it answers every A query with one A record, the address it was
// given (a real server's own rip), so an answer names the real server that sent it.
import { type Script, sh } from '../../src/core/shell.js';

// One socket per address (the rip, and the VIP on DR/TUN real servers): a wildcard socket would
// answer a query to the VIP from the rip, which the client's connected socket drops.
const DNS_STAND_IN_PL = `use strict; use IO::Socket::INET; use IO::Select;
my ($port, $answer, @binds) = @ARGV;
my $sel = IO::Select->new;
for my $b (@binds) { $sel->add(IO::Socket::INET->new(LocalAddr => $b, LocalPort => $port, Proto => 'udp', ReuseAddr => 1) or die "bind $b:$port: $!\\n") }
$| = 1; print "listening\\n";
my $a = pack('C4', split /\\./, $answer);
while (1) {
  for my $s ($sel->can_read) {
    my $peer = $s->recv(my $q, 512); next unless defined $peer && length($q) > 12;
    my ($id) = unpack('n', $q);
    my $p = 12; while ($p < length $q) { my $l = ord(substr($q, $p, 1)); $p++; last if $l == 0; $p += $l }
    $s->send(pack('nnnnnn', $id, 0x8180, 1, 1, 0, 0) . substr($q, 12, $p + 4 - 12) . pack('nnnNn', 0xc00c, 1, 1, 60, 4) . $a, 0, $peer);
  }
}
`;

/** Runs the stand-in in the foreground on port, answering `answer` on each of `binds` (callers background it). */
export const dnsStandIn = (port: number, answer: string, binds: string[]): Script => sh`exec perl -e ${DNS_STAND_IN_PL} ${String(port)} ${answer} ${binds}`;
