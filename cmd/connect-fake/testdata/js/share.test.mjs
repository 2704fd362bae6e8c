// A whole share through connect-fake, from outside Go: only HTTP, Node's
// built-in test runner, fetch and crypto (no npm packages).
//
//   CONNECT_FAKE_URL=http://127.0.0.1:8080 node --test cmd/connect-fake/testdata/js/
//
// CONNECT_FAKE_URL is connect-fake's address without a path; start it with
// the wall clock (the default), so that webhook signatures carry the time
// this script verifies them against.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';

const base = process.env.CONNECT_FAKE_URL;
if (!base) {
  throw new Error('CONNECT_FAKE_URL is not set: start connect-fake and give its address, such as http://127.0.0.1:8080');
}

// control calls connect-fake's control API (no key) and returns its JSON.
async function control(method, path, body) {
  const res = await fetch(`${base}/_fake${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} /_fake${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// api calls the Persona-shaped API as the organization whose key is given.
async function api(apiURL, key, method, path, body) {
  const res = await fetch(`${apiURL}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, requestId: res.headers.get('request-id'), doc: await res.json() };
}

// verifySignature checks a Persona-Signature header: one or more
// space-separated "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">"
// groups, any of which may match; t must be within tolerance of now.
export function verifySignature(secret, header, rawBody, nowSeconds = Date.now() / 1000, toleranceSeconds = 300) {
  for (const group of (header ?? '').split(' ')) {
    const fields = new Map();
    for (const part of group.split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
    }
    const t = fields.get('t');
    const v1 = fields.get('v1');
    if (!t || !/^\d+$/.test(t) || !v1 || !/^[0-9a-f]+$/i.test(v1)) continue;
    if (Math.abs(nowSeconds - Number(t)) > toleranceSeconds) continue;
    const want = crypto.createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest();
    const got = Buffer.from(v1, 'hex');
    if (got.length === want.length && crypto.timingSafeEqual(got, want)) return true;
  }
  return false;
}

// A webhook receiver: verifies each delivery with the secret it is given
// and keeps the events that pass.
let receiver;
let secret = '';
const received = [];
const rejected = [];

before(async () => {
  receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (!verifySignature(secret, req.headers['persona-signature'], body)) {
        rejected.push(req.headers['persona-signature']);
        res.writeHead(401).end('bad signature');
        return;
      }
      received.push(JSON.parse(body.toString('utf8')));
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
});

after(() => new Promise((resolve) => receiver.close(resolve)));

test('the signature check refuses what it should', () => {
  const body = Buffer.from('{"a":1}');
  const t = 1700000000;
  const mac = crypto.createHmac('sha256', 's3cret').update(`${t}.`).update(body).digest('hex');
  assert.equal(verifySignature('s3cret', `t=${t},v1=${mac}`, body, t), true);
  assert.equal(verifySignature('s3cret', `t=${t},v1=00 t=${t},v1=${mac}`, body, t), true, 'any group may match');
  assert.equal(verifySignature('other', `t=${t},v1=${mac}`, body, t), false, 'wrong secret');
  assert.equal(verifySignature('s3cret', `t=${t},v1=${mac}`, Buffer.from('{"a":2}'), t), false, 'tampered body');
  assert.equal(verifySignature('s3cret', `t=${t},v1=${mac}`, body, t + 301), false, 'stale');
  assert.equal(verifySignature('s3cret', 'garbage', body, t), false);
});

test('a whole share, driven over HTTP', async () => {
  await control('POST', '/reset');
  const { url: apiURL } = await control('GET', '/');

  // Organizations and the source's inquiry, through the control API.
  const acme = await control('POST', '/organizations', { name: 'Acme KYC' });
  const bank = await control('POST', '/organizations', { name: 'Bank' });
  assert.match(acme.api_key, /^persona_sandbox_/);
  const inq = await control('POST', '/inquiries', {
    organization_id: acme.id,
    fields: { 'name-first': 'Ada', 'name-last': 'Lovelace', birthdate: '1815-12-10' },
  });
  assert.match(inq.id, /^inq_/);

  // The destination's webhook points at this script's receiver.
  const hook = await control('POST', '/webhooks', {
    organization_id: bank.id,
    url: `http://127.0.0.1:${receiver.address().port}/persona`,
    enabled_events: ['connect/share-token.inbound-created', 'connect/share-token.inbound-redeemed'],
  });
  secret = hook.secret;
  assert.match(secret, /^wbhsec_/);

  // The source connects; the destination accepts (a Dashboard step).
  const created = await api(apiURL, acme.api_key, 'POST', '/connect/connections', {
    data: { attributes: { 'destination-organization-id': bank.id } },
  });
  assert.equal(created.status, 201);
  assert.match(created.requestId, /^req_/);
  const cxn = created.doc.data;
  assert.equal(cxn.attributes.status, 'pending');
  const accepted = await control('POST', `/connections/${cxn.id}/accept`);
  assert.equal(accepted.status, 'active');

  // The source shares the inquiry.
  const tok = await api(apiURL, acme.api_key, 'POST', '/connect/share-tokens', {
    data: { attributes: { 'connection-id': cxn.id, 'source-id': inq.id } },
  });
  assert.equal(tok.status, 201, JSON.stringify(tok.doc));
  const id = tok.doc.data.id;
  assert.equal(tok.doc.data.attributes.status, 'created');
  assert.equal(tok.doc.data.attributes.direction, 'outbound');

  // The destination peeks: the status in full, fields by presence only.
  const peek = await api(apiURL, bank.api_key, 'GET', `/connect/share-tokens/${id}?peek-source-data=true`);
  assert.equal(peek.status, 200);
  const sourceData = peek.doc.data.attributes['source-data'];
  assert.equal(sourceData.id, inq.id);
  const peekable = sourceData['peekable-attributes'];
  assert.deepEqual(peekable.status, { visibility: 'full', value: 'completed' });
  assert.deepEqual(peekable.fields['name-first'], { visibility: 'presence', value: true });

  // It redeems, and waits until the redemption completes.
  const redeem = await api(apiURL, bank.api_key, 'POST', `/connect/share-tokens/${id}/redeem`);
  assert.equal(redeem.status, 202);
  assert.equal(redeem.doc.data.attributes.status, 'pending');
  const done = await control('POST', `/share-tokens/${id}/wait`, { status: ['redeemed', 'failed'], timeout: '20s' });
  assert.equal(done.status, 'redeemed');
  const got = await api(apiURL, bank.api_key, 'GET', `/connect/share-tokens/${id}`);
  const dest = got.doc.data.relationships.destination.data;
  assert.equal(dest.id, done.destination_id);

  // The copy: a new inquiry in the destination's organization.
  const copy = await control('GET', `/objects/${dest.id}`);
  assert.equal(copy.organization_id, bank.id);
  assert.equal(copy.cloned_from, inq.id);
  assert.equal(copy.fields['name-first'], 'Ada');
  assert.equal(copy.fields.birthdate, '1815-12-10');

  // The webhook events arrived, signed: verified here, in JavaScript.
  const waited = await control('POST', '/webhook-deliveries/wait', { timeout: '20s' });
  assert.deepEqual(waited.failures, [], waited.error);
  assert.deepEqual(rejected, []);
  const names = received.map((e) => e.data.attributes.name).sort();
  assert.deepEqual(names, ['connect/share-token.inbound-created', 'connect/share-token.inbound-redeemed']);
  for (const ev of received) {
    assert.equal(ev.data.attributes.payload.data.id, id);
  }
  const redeemed = received.find((e) => e.data.attributes.name.endsWith('redeemed'));
  assert.equal(redeemed.data.attributes.payload.data.attributes.status, 'redeemed');

  // What the fake received, keys left out.
  const { data: requests } = await control('GET', '/requests');
  assert.ok(requests.some((r) => r.path.endsWith(`/share-tokens/${id}/redeem`) && r.status === 202));
  assert.ok(requests.every((r) => !JSON.stringify(r).includes(acme.api_key)));
});
