import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { describeError, httpStatusOf } from './reflector_errors.ts';

describe('httpStatusOf / describeError', () => {
  it('reads the status of a typed call failure, with the Status message from its JSON body', () => {
    const err = new ApiException(
      403,
      'Unknown API Status Code!',
      '{"kind":"Status","message":"nodes is forbidden"}',
      {},
    );
    assert.equal(httpStatusOf(err), 403);
    assert.equal(describeError(err), 'HTTP 403: nodes is forbidden');
  });
  it('reads the status of a Watch failure', () => {
    const err = Object.assign(new Error('Gone'), { statusCode: 410 });
    assert.equal(httpStatusOf(err), 410);
    assert.equal(describeError(err), 'HTTP 410');
  });
  it('describes a network error by the first line of its message', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1\nmore'), { code: 'ECONNREFUSED' });
    assert.equal(httpStatusOf(err), undefined);
    assert.equal(describeError(err), 'connect ECONNREFUSED 127.0.0.1:1');
  });
});
