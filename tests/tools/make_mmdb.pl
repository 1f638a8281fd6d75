#!/usr/bin/perl
# Writes a MaxMind-format database (.mmdb) from a JSON spec, for tests that need known answers:
#   make_mmdb.pl SPEC.json OUT.mmdb
# SPEC: {"database_type": "GeoLite2-Country", "networks": {"192.0.2.0/24": {"country": {"iso_code": "CZ"}}}}
# (GeoLite2-ASN: {"autonomous_system_number": 2852, "autonomous_system_organization": "CESNET"}).
# Uses Debian's libmaxmind-db-writer-perl.
use strict; use warnings;
use JSON::PP;
use MaxMind::DB::Writer::Tree;
my ($spec, $out) = @ARGV;
open my $fh, '<', $spec or die "$spec: $!";
my $s = decode_json(do { local $/; <$fh> });
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
