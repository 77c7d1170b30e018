import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RUN_PROJECTION, runWarns } from '../../../../src/reconcilers/core/run-projection.ts';

test('runWarns: blocked Pending and forced cancellations are Warnings; on-request cancels and plain phases keep the table', () => {
  for (const reason of ['ImageNotPresent', 'SecretNotFound', 'RuntimeUnavailable', 'OutputsNotStored', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerConfigError', 'Unschedulable']) assert.equal(runWarns('Pending', reason), true, reason);
  assert.equal(runWarns('Pending', 'PodPending'), undefined, 'a Pod on its way is not a failure');
  assert.equal(runWarns('Pending', 'SchedulingGated'), undefined);
  assert.equal(runWarns('Pending', 'WaitingForSlot'), undefined);
  for (const reason of ['DeadlineExceeded', 'ComputeBudgetExceeded', 'ProfileNotFound', 'AuthorityLost']) assert.equal(runWarns('Cancelled', reason), true, reason);
  assert.equal(runWarns('Cancelled', 'Cancelled'), false);
  assert.equal(runWarns('Cancelled', 'ContainerCancelled'), false);
  assert.equal(runWarns('Failed', 'ExitCode'), undefined);
  assert.equal(RUN_PROJECTION.Failed.warning, true, 'a failure is a Warning by its phase');
});
