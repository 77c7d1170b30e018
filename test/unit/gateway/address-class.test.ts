import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAddress, ipv6Groups } from '../../../src/gateway/address-class.ts';

test('IPv4 ranges: loopback, private, CGNAT, link-local, metadata, reserved; public otherwise', () => {
  const cases: Record<string, string> = {
    '127.0.0.1': 'loopback',
    '127.255.255.254': 'loopback',
    '0.0.0.0': 'unspecified',
    '10.1.2.3': 'private',
    '172.16.0.1': 'private',
    '172.31.255.255': 'private',
    '172.32.0.1': 'public',
    '192.168.1.1': 'private',
    '100.64.0.1': 'cgnat',
    '100.127.255.255': 'cgnat',
    '100.128.0.1': 'public',
    '169.254.169.254': 'metadata',
    '169.254.1.1': 'link-local',
    '224.0.0.1': 'multicast',
    '255.255.255.255': 'reserved',
    '198.18.0.1': 'reserved',
    '8.8.8.8': 'public',
    '140.82.112.3': 'public',
  };
  for (const [a, cls] of Object.entries(cases)) assert.equal(classifyAddress(a), cls, a);
});

test('IPv6: loopback, ULA, link-local, metadata, and IPv4 carried in mapped/compatible/NAT64 forms', () => {
  const cases: Record<string, string> = {
    '::1': 'loopback',
    '::': 'unspecified',
    'fe80::1': 'link-local',
    'fd00::1': 'private',
    'fc12:3456::1': 'private',
    'fd00:ec2::254': 'metadata',
    'ff02::1': 'multicast',
    '2001:db8::1': 'reserved',
    '2606:4700:4700::1111': 'public',
    '::ffff:127.0.0.1': 'loopback',
    '::ffff:7f00:1': 'loopback',
    '::ffff:169.254.169.254': 'metadata',
    '::ffff:10.0.0.1': 'private',
    '::ffff:8.8.8.8': 'public',
    '::127.0.0.1': 'loopback',
    '64:ff9b::a9fe:a9fe': 'metadata',
    '0:0:0:0:0:ffff:c0a8:0101': 'private',
  };
  for (const [a, cls] of Object.entries(cases)) assert.equal(classifyAddress(a), cls, a);
});

test('anything that is not an IP literal (names, zone ids, garbage) is reserved: never public', () => {
  for (const a of ['example.com', 'fe80::1%eth0', '1.2.3', '::gg', '', '[::1]']) assert.equal(classifyAddress(a), 'reserved', a);
});

test('ipv6Groups expands :: and dotted tails', () => {
  assert.deepEqual(ipv6Groups('::ffff:1.2.3.4'), [0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
  assert.deepEqual(ipv6Groups('1::'), [1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(ipv6Groups('1:2:3:4:5:6:7:8'), [1, 2, 3, 4, 5, 6, 7, 8]);
});
