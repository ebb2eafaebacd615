// Workspaces through the gateway: create/list/get, members add/remove, the last-owner rule,
// 404 for non-members and 403 for members without the role.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, expectStatus, registerAndLogin } from './lib/client.mjs';

async function createWs(token, name = 'Team') {
  return expectStatus(await api('POST', '/api/v1/workspaces', { token, body: { name } }), 201, 'create').json;
}

test('create, list, get; unknown field 400; non-member 404', async () => {
  const o = await registerAndLogin('wso');
  const x = await registerAndLogin('wsx');
  const ws = await createWs(o.access_token, 'Alpha');
  assert.equal(ws.name, 'Alpha');
  assert.equal(ws.role, 'owner');
  assert.equal(ws.member_count, 1);
  assert.match(ws.id, /^[0-9a-f-]{36}$/);

  const extra = await api('POST', '/api/v1/workspaces', { token: o.access_token, body: { name: 'B', owner: x.user.id } });
  assert.equal(extra.status, 400, extra.text);
  const blank = await api('POST', '/api/v1/workspaces', { token: o.access_token, body: { name: '' } });
  assert.equal(blank.status, 400, blank.text);

  const list = expectStatus(await api('GET', '/api/v1/workspaces', { token: o.access_token }), 200, 'list');
  assert.ok(list.json.data.some((w) => w.id === ws.id && w.role === 'owner'));
  const xlist = expectStatus(await api('GET', '/api/v1/workspaces', { token: x.access_token }), 200, 'list x');
  assert.ok(!xlist.json.data.some((w) => w.id === ws.id));

  expectStatus(await api('GET', `/api/v1/workspaces/${ws.id}`, { token: o.access_token }), 200, 'get');
  for (const p of [`/api/v1/workspaces/${ws.id}`, `/api/v1/workspaces/${ws.id}/members`]) {
    const r = await api('GET', p, { token: x.access_token });
    assert.equal(r.status, 404, `${p}: ${r.text}`);
  }
  const add = await api('POST', `/api/v1/workspaces/${ws.id}/members`, {
    token: x.access_token, body: { user_id: x.user.id, role: 'owner' },
  });
  assert.equal(add.status, 404, add.text);
});

test('members: add by email, role change, 403 for editors, last owner 409, leave', async () => {
  const o = await registerAndLogin('mo');
  const e = await registerAndLogin('me');
  const v = await registerAndLogin('mv');
  const ws = await createWs(o.access_token);

  const added = await api('POST', `/api/v1/workspaces/${ws.id}/members`, {
    token: o.access_token, body: { email: e.email, role: 'editor' },
  });
  assert.equal(added.status, 201, added.text);
  assert.equal(added.json.user_id, e.user.id);
  assert.equal(added.json.role, 'editor');

  const members = expectStatus(await api('GET', `/api/v1/workspaces/${ws.id}/members`, { token: e.access_token }), 200, 'members');
  assert.equal(members.json.data.length, 2);
  assert.ok(members.json.data.every((m) => m.user_id && m.email && m.display_name && m.role));

  // the editor sees the workspace but may not manage members
  const eAdd = await api('POST', `/api/v1/workspaces/${ws.id}/members`, {
    token: e.access_token, body: { user_id: v.user.id, role: 'viewer' },
  });
  assert.equal(eAdd.status, 403, eAdd.text);
  const eRemove = await api('DELETE', `/api/v1/workspaces/${ws.id}/members/${o.user.id}`, { token: e.access_token });
  assert.equal(eRemove.status, 403, eRemove.text);

  const both = await api('POST', `/api/v1/workspaces/${ws.id}/members`, {
    token: o.access_token, body: { user_id: v.user.id, email: v.email, role: 'viewer' },
  });
  assert.equal(both.status, 400, both.text);

  // the last owner can neither leave nor be demoted
  const leave = await api('DELETE', `/api/v1/workspaces/${ws.id}/members/${o.user.id}`, { token: o.access_token });
  assert.equal(leave.status, 409, leave.text);
  const demote = await api('POST', `/api/v1/workspaces/${ws.id}/members`, {
    token: o.access_token, body: { user_id: o.user.id, role: 'viewer' },
  });
  assert.equal(demote.status, 409, demote.text);

  // a role change is add_member again: 200
  const promote = await api('POST', `/api/v1/workspaces/${ws.id}/members`, {
    token: o.access_token, body: { user_id: e.user.id, role: 'owner' },
  });
  assert.equal(promote.status, 200, promote.text);
  assert.equal(promote.json.role, 'owner');

  // a member may remove themself; the first owner now leaves
  const left = await api('DELETE', `/api/v1/workspaces/${ws.id}/members/${o.user.id}`, { token: o.access_token });
  assert.equal(left.status, 204, left.text);
  const gone = await api('GET', `/api/v1/workspaces/${ws.id}`, { token: o.access_token });
  assert.equal(gone.status, 404, gone.text);
  const notMember = await api('DELETE', `/api/v1/workspaces/${ws.id}/members/${v.user.id}`, { token: e.access_token });
  assert.equal(notMember.status, 404, notMember.text);
});
