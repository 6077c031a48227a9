import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostAddress, subnetPrefix, usedThirdOctets } from '../../src/lab/container.js';

describe('container lab subnets', () => {
  it('gives a lab a /24 while its hosts fit from .11, a /22 beyond', () => {
    assert.equal(subnetPrefix(1), 24);
    assert.equal(subnetPrefix(243), 24);
    assert.equal(subnetPrefix(244), 22);
    assert.equal(subnetPrefix(1000), 22);
  });

  it('numbers hosts from .11 across the /24s of a /22', () => {
    assert.equal(hostAddress(7, 1), '10.213.7.11');
    assert.equal(hostAddress(8, 245), '10.213.8.255');
    assert.equal(hostAddress(8, 246), '10.213.9.0');
    // The last of 1000 hosts stays inside 10.213.8.0/22 (broadcast .11.255).
    assert.equal(hostAddress(8, 1000), '10.213.11.242');
  });

  it('counts every /24 a shorter prefix covers as used', () => {
    const ip = [
      '5: plababc123    inet 10.213.8.1/22 scope global plababc123',
      '6: plabdef456    inet 10.213.40.1/24 scope global plabdef456',
      '10.213.40.0/24 dev plabdef456 proto kernel scope link src 10.213.40.1',
      '2: eth0    inet 192.168.10.213/24 brd 192.168.10.255 scope global eth0',
    ].join('\n');
    assert.deepEqual(
      [...usedThirdOctets(ip)].sort((a, b) => a - b),
      [8, 9, 10, 11, 40],
    );
  });
});
