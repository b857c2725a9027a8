/**
 * `runts network create|ls|inspect|rm|prune`: the front end's networks.
 * Argument parsing only; the work is in src/network/.
 *
 * The book: docs/07-networking.md.
 */
import type { Command } from 'commander';
import type { RuntimeContext } from '../runtime/create.ts';
import { print, printJson, table } from './output.ts';

// The network code loads only when a network command runs.
const networks = () => import('../network/networks.ts');
const bridge = () => import('../network/bridge.ts');

export function registerNetworkCommands(program: Command, _ctx: () => RuntimeContext): void {
  const network = program.command('network').description('container networks of the front end (`runts run IMAGE --network NAME`)');

  network.command('create').description('create a bridge network whose containers find each other by name').argument('<name>')
    .option('--subnet <cidr>', 'IPv4 subnet (default: the first free /24 of 10.78.0.0/16)')
    .option('--gateway <ip>', 'the bridge\'s address (default: the subnet\'s first)')
    .option('--bridge <ifname>', 'the bridge interface\'s name (default: rn + a hash of the name)')
    .action(async (name: string, f: { subnet?: string; gateway?: string; bridge?: string }) => print((await networks()).createNetwork(name, f).name));

  network.command('ls').alias('list').description('list networks')
    .option('-q, --quiet', 'print only the names')
    .action(async (f: { quiet?: boolean }) => {
      const nets = (await networks()).listNetworks();
      const { listAllocations } = await bridge();
      if (f.quiet) return print([...nets.map((n) => n.name), 'host', 'none'].join('\n'));
      print(table([['NAME', 'DRIVER', 'BRIDGE', 'SUBNET', 'GATEWAY', 'CONTAINERS'],
        ...nets.map((n) => [n.name, 'bridge', n.bridge, n.subnet, n.gateway, String(Object.keys(listAllocations(n)).length)]),
        ['host', 'host', '-', '-', '-', '-'], ['none', 'null', '-', '-', '-', '-']]));
    });

  network.command('inspect').description('print networks, with their containers and published ports, as JSON').argument('<name...>')
    .action(async (names: string[]) => {
      const { lookupNetwork } = await networks();
      const { listAllocations } = await bridge();
      const { formatPublish } = await import('../network/ports.ts');
      printJson(names.map((n) => lookupNetwork(n)).map((net) => ({
        name: net.name, driver: 'bridge', bridge: net.bridge, subnet: net.subnet, gateway: net.gateway, dns: !!net.dns, nftTable: `ip ${net.table}`,
        containers: Object.fromEntries(Object.entries(listAllocations(net)).map(([id, a]) => [id, { ip: a.ip, ports: a.ports.map(formatPublish) }])),
      })));
    });

  network.command('rm').alias('remove').description('remove networks no container uses').argument('<name...>')
    .action(async (names: string[]) => {
      const { removeNetwork } = await networks();
      names.forEach((n) => { removeNetwork(n); print(n); });
    });

  network.command('prune').description('remove every network no running container uses (the default network keeps its name)')
    .action(async () => (await networks()).pruneNetworks().forEach((n) => print(`Deleted: ${n}`)));
}
