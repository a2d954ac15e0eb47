import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFrontMatter, nodePathOf } from '../domain/knowledge/markdown.js';
import { call, startTestPlatform, TEST_ADMIN_KEY, type TestPlatform } from './support/platform.js';

/**
 * The knowledge engine over REST against the real platform: markdown import (folders → paths,
 * front matter → labels and intent tags), ranked search with typos, labels, intent and scope,
 * browse by path, edges, export back to the same files, bad input, and two tenants kept apart.
 */

const A = 'kn-a';
const B = 'kn-b';

const files = [
  { path: 'sales/index.md', content: '---\ntitle: Sales\n---\nHow we sell.' },
  { path: 'sales/pricing/index.md', content: '---\ntitle: Pricing\ntype: subcategory\n---\nPrices and packaging.' },
  {
    path: 'sales/pricing/saas-models.md',
    content:
      '---\ntitle: SaaS pricing models\ntype: framework\nlabels: [pricing, saas]\nintent_tags:\n  - choose-pricing\n  - compare\nowner: sam\n---\nPer-seat, usage-based and tiered pricing: when each fits a subscription business.',
  },
  {
    path: 'sales/pricing/discount-policy.md',
    content:
      '---\ntitle: Discount policy\nlabels: [pricing, approvals]\nintent_tags: [negotiate]\n---\nDiscounts above 15% need the owner to approve; annual prepay earns 10%.',
  },
  {
    path: 'sales/objections/too-expensive.md',
    content:
      '---\ntitle: Handling the price objection\ntype: example\nlabels: [objections]\nintent_tags: [negotiate]\n---\nWhen a lead says it is too expensive, ask what they compare it with, then show the cost of doing nothing.',
  },
  {
    path: 'operations/onboarding/kickoff-checklist.md',
    content:
      '---\ntitle: Kickoff checklist\ntype: document\nlabels: [onboarding]\n---\nBook the kickoff call within two days of signature; send the welcome email.',
  },
];

describe('knowledge engine', () => {
  let tp: TestPlatform;
  let keyA: string;
  let keyB: string;
  const tenantWithKey = async (id: string) => {
    expect(
      (await call(tp.baseUrl, 'POST', '/v1/admin/tenants', { key: TEST_ADMIN_KEY, body: { id, name: id } })).status,
    ).toBe(201);
    const res = await call(tp.baseUrl, 'POST', `/v1/admin/tenants/${id}/keys`, {
      key: TEST_ADMIN_KEY,
      body: { name: 't', scopes: ['read', 'act'] },
    });
    return res.body.key as string;
  };
  const search = async (key: string, body: Record<string, unknown>) => {
    const res = await call(tp.baseUrl, 'POST', '/v1/knowledge/search', { key, body });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.hits as { path: string; title: string; score: number }[];
  };

  beforeAll(async () => {
    tp = await startTestPlatform({ roles: ['api'] });
    keyA = await tenantWithKey(A);
    keyB = await tenantWithKey(B);
  }, 120_000);
  afterAll(async () => tp?.stop());

  it('parses front matter and maps folders to paths', () => {
    const { meta, body } = parseFrontMatter(files[2]!.content);
    expect(meta).toMatchObject({
      title: 'SaaS pricing models',
      labels: ['pricing', 'saas'],
      intent_tags: ['choose-pricing', 'compare'],
    });
    expect(body).toMatch(/^Per-seat/);
    expect(nodePathOf('Sales/Pricing Models/SaaS.md')).toBe('/sales/pricing-models/saas');
    expect(nodePathOf('sales/index.md')).toBe('/sales');
  });

  it('imports a folder, searches it (typos, labels, intent, scope) and browses it', async () => {
    const imported = await call(tp.baseUrl, 'POST', '/v1/knowledge/import', { key: keyA, body: { files } });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    expect(imported.body).toMatchObject({ created: 6, updated: 0 });

    // Words anywhere in a long question; the title match ranks first.
    expect((await search(keyA, { query: 'which pricing model suits a SaaS subscription business?' }))[0]!.path).toBe(
      '/sales/pricing/saas-models',
    );
    // Typos still find it (trigram similarity).
    expect((await search(keyA, { query: 'pricng modles' })).map((h) => h.path)).toContain('/sales/pricing/saas-models');
    // The intent tag decides between two pricing nodes.
    expect((await search(keyA, { query: 'pricing', intent: 'negotiate' }))[0]!.path).toBe(
      '/sales/pricing/discount-policy',
    );
    // Scope keeps to a subtree.
    const scoped = await search(keyA, { query: 'kickoff call pricing', scope: '/operations' });
    expect(scoped.map((h) => h.path)).toEqual(['/operations/onboarding/kickoff-checklist']);
    // Nothing matching is an empty list, not an error.
    expect(await search(keyA, { query: 'zebra xylophone' })).toEqual([]);

    const root = await call(tp.baseUrl, 'GET', '/v1/knowledge/browse?path=/', { key: keyA });
    expect(root.body.children.map((c: { path: string; descendants: number }) => [c.path, c.descendants])).toEqual([
      ['/operations', 1],
      ['/sales', 4],
    ]);
    const pricing = await call(tp.baseUrl, 'GET', '/v1/knowledge/browse?path=/sales/pricing', { key: keyA });
    expect(pricing.body.node.title).toBe('Pricing');
    expect(pricing.body.children.map((c: { title: string }) => c.title)).toEqual([
      'Discount policy',
      'SaaS pricing models',
    ]);
  });

  it('relates nodes, edits, exports the same files back, and refuses bad input naming the field', async () => {
    const edge = await call(tp.baseUrl, 'POST', '/v1/knowledge/edges', {
      key: keyA,
      body: { from: '/sales/objections/too-expensive', to: '/sales/pricing/discount-policy', kind: 'see_also' },
    });
    expect(edge.status, JSON.stringify(edge.body)).toBe(204);
    const node = await call(
      tp.baseUrl,
      'GET',
      `/v1/knowledge/nodes/${encodeURIComponent('/sales/pricing/discount-policy')}`,
      {
        key: keyA,
      },
    );
    expect(node.body.edges).toEqual([
      expect.objectContaining({ kind: 'see_also', path: '/sales/objections/too-expensive' }),
    ]);

    const exported = await call(tp.baseUrl, 'GET', '/v1/knowledge/export?path=/sales', { key: keyA });
    expect(exported.body.files.map((f: { path: string }) => f.path)).toEqual([
      'sales/index.md',
      'sales/objections/too-expensive.md',
      'sales/pricing/index.md',
      'sales/pricing/discount-policy.md',
      'sales/pricing/saas-models.md',
    ]);
    // Export → import is a no-op on content: every node updated, none created, search unchanged.
    const again = await call(tp.baseUrl, 'POST', '/v1/knowledge/import', {
      key: keyA,
      body: { files: exported.body.files },
    });
    expect(again.body).toMatchObject({ created: 0, updated: 5 });
    const saas = await call(
      tp.baseUrl,
      'GET',
      `/v1/knowledge/nodes/${encodeURIComponent('/sales/pricing/saas-models')}`,
      {
        key: keyA,
      },
    );
    expect(saas.body).toMatchObject({
      type: 'framework',
      labels: ['pricing', 'saas'],
      intentTags: ['choose-pricing', 'compare'],
      metadata: { owner: 'sam' },
    });

    const before = (await call(tp.baseUrl, 'GET', '/v1/knowledge/export', { key: keyA })).body.files.length;
    const bad = await call(tp.baseUrl, 'POST', '/v1/knowledge/import', {
      key: keyA,
      body: {
        files: [
          { path: 'ok/new.md', content: 'fine' },
          { path: 'x/y.md', content: '---\ntype: poem\n---\nx' },
        ],
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^body\.files\.1: x\/y\.md: type/);
    expect((await call(tp.baseUrl, 'GET', '/v1/knowledge/export', { key: keyA })).body.files.length).toBe(before);

    const noQuery = await call(tp.baseUrl, 'POST', '/v1/knowledge/search', { key: keyA, body: { query: '' } });
    expect(noQuery.status).toBe(400);
    expect(noQuery.body.message).toMatch(/body\.query/);
    const badPath = await call(tp.baseUrl, 'POST', '/v1/knowledge/nodes', {
      key: keyA,
      body: { path: 'no-slash', type: 'topic', title: 'x' },
    });
    expect(badPath.status).toBe(400);
    expect(badPath.body.message).toMatch(/body\.path/);
    const taken = await call(tp.baseUrl, 'POST', '/v1/knowledge/nodes', {
      key: keyA,
      body: { path: '/sales', type: 'category', title: 'again' },
    });
    expect(taken.status).toBe(409);
  });

  it('keeps tenants apart', async () => {
    expect(await search(keyB, { query: 'pricing' })).toEqual([]);
    const other = await call(tp.baseUrl, 'GET', `/v1/knowledge/nodes/${encodeURIComponent('/sales')}`, { key: keyB });
    expect(other.status).toBe(404);
    const edge = await call(tp.baseUrl, 'POST', '/v1/knowledge/edges', {
      key: keyB,
      body: { from: '/sales', to: '/operations', kind: 'related' },
    });
    expect(edge.status).toBe(404);
  });
});
