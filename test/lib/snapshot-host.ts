/*
 * snapshot-host.ts - writes the host's state before the tests (cleanup.ts,
 * hostSnapshot: mounts, cgroups, links, netns, nft tables, iptables rules,
 * the suite's processes, default state dirs) to SNAPSHOT_FILE, for
 * leaks.test.ts to compare the host with after the suite. scripts/test.sh
 * runs it first; run it by hand before running leaks.test.ts on its own:
 *
 *   node test/lib/snapshot-host.ts
 */
import { saveHostSnapshot, SNAPSHOT_FILE } from './cleanup.ts';

const snap = saveHostSnapshot();
const counts = Object.entries(snap).filter(([k]) => k !== 'unavailable').map(([k, v]) => `${(v as unknown[]).length} ${k}`).join(', ');
console.log(`host snapshot in ${SNAPSHOT_FILE}: ${counts}`);
for (const u of snap.unavailable) console.log(`  not seen: ${u}`);
