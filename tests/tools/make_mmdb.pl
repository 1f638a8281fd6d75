#!/usr/bin/perl
# Writes a MaxMind-format database (.mmdb) from a JSON spec, for tests that need known answers:
#   make_mmdb.pl SPEC.json OUT.mmdb
# SPEC: {"database_type": "GeoLite2-Country", "networks": {"192.0.2.0/24": {"country": {"iso_code": "CZ"}}}}
# (GeoLite2-ASN: {"autonomous_system_number": 2852, "autonomous_system_organization": "CESNET"}).
#   make_mmdb.pl --random N SEED country|asn OUT.mmdb
# writes N random IPv4 networks (/12 to /24 of public space) with random countries or ASes, a
# database of a real one's shape for benchmarks (bench/collector/run --geoip).
# Uses Debian's libmaxmind-db-writer-perl.
use strict; use warnings;
use JSON::PP;
use MaxMind::DB::Writer::Tree;
my ($spec, $out) = @ARGV;
my $s;
if ($spec eq '--random') {
  my ($n, $seed, $kind);
  ($n, $seed, $kind, $out) = @ARGV[1..4];
  srand($seed);
  my @cc = map { chr(65 + $_ / 26) . chr(65 + $_ % 26) } 0 .. 249;
  $s = {database_type => $kind eq 'asn' ? 'GeoLite2-ASN' : 'GeoLite2-Country', networks => {}};
  for (1 .. $n) {
    my $len = 12 + int(rand(13));
    my $a = 0;
    $a = int(rand(0xdf000000)) + 0x01000000 while ($a >> 24) == 0 || ($a >> 24) == 10 || ($a >> 24) == 127;
    $a &= ~((1 << (32 - $len)) - 1) & 0xffffffff;
    my $net = join('.', map { ($a >> (24 - 8 * $_)) & 255 } 0 .. 3) . "/$len";
    my $asn = 1 + int(rand(80000));
    $s->{networks}{$net} = $kind eq 'asn'
      ? {autonomous_system_number => $asn, autonomous_system_organization => "Example Networks $asn Ltd."}
      : {country => {iso_code => $cc[int(rand(@cc))]}};
  }
} else {
  open my $fh, '<', $spec or die "$spec: $!";
  $s = decode_json(do { local $/; <$fh> });
}
my %types = (country => 'map', iso_code => 'utf8_string', names => 'map', en => 'utf8_string',
  autonomous_system_number => 'uint32', autonomous_system_organization => 'utf8_string');
my $tree = MaxMind::DB::Writer::Tree->new(
  ip_version => 6, record_size => 24, database_type => $s->{database_type},
  languages => ['en'], description => {en => 'Stream4Flow test database'},
  map_key_type_callback => sub { $types{$_[0]} // 'utf8_string' },
  remove_reserved_networks => 0, alias_ipv6_to_ipv4 => 1);
for my $n (sort keys %{$s->{networks}}) { $tree->insert_network($n, $s->{networks}{$n}); }
open my $o, '>:raw', $out or die "$out: $!";
$tree->write_tree($o);
close $o or die;
