import { type SimUser } from './simulatorTypes';

/** The demo account's user id (paste it into Sign In, or RUNCOMFY_USER_ID). */
export const demoUserId = '00000000-0000-4000-8000-000000000001';

/** The demo account's two API tokens ("Token1", "Token2"). Not secrets: they open only the simulator. */
export const demoTokens = ['demo-token-1', 'demo-token-2'] as const;

/** A second account, for tests about one user's token used on another user's path. */
export const otherUserId = '00000000-0000-4000-8000-000000000002';
export const otherTokens = ['other-token-1', 'other-token-2'] as const;

/**
 * The simulator's default accounts: the demo user with four workflows of one to three versions,
 * and a second user with one workflow.
 */
export function demoUsers(): SimUser[] {
  return [
    {
      userId: demoUserId,
      tokens: [...demoTokens],
      workflows: [
        {
          workflowId: '7f3c2a10-0001-4000-8000-00000000f001',
          name: 'Flux portrait',
          versions: [
            version('0001', 'v1 first draft', '2025-06-02T09:14:05.120331Z', '2025-06-02T09:14:05.120331Z'),
            version('0002', 'v2 softer light', '2025-06-20T16:41:27.904112Z', '2025-06-20T16:41:27.904112Z'),
            version('0003', 'v3 face detailer', '2025-07-11T08:03:52.377026Z', '2025-07-12T10:22:19.550871Z'),
          ],
        },
        {
          workflowId: '7f3c2a10-0002-4000-8000-00000000f002',
          name: 'SDXL upscale',
          versions: [
            version('0011', 'v1', '2025-05-14T12:00:41.000513Z', '2025-05-14T12:00:41.000513Z'),
            version('0012', 'v2 tiled 4x', '2025-08-03T18:30:09.661204Z', '2025-08-03T18:30:09.661204Z'),
          ],
        },
        {
          workflowId: '7f3c2a10-0003-4000-8000-00000000f003',
          name: 'Wan 2.1 image to video',
          versions: [version('0021', 'v1', '2025-08-19T07:55:33.218940Z', '2025-08-21T13:02:47.090356Z')],
        },
        {
          workflowId: '7f3c2a10-0004-4000-8000-00000000f004',
          name: 'Background removal',
          versions: [version('0031', undefined, '2025-04-01T10:10:10.101010Z', '2025-04-01T10:10:10.101010Z')],
        },
      ],
    },
    {
      userId: otherUserId,
      tokens: [...otherTokens],
      workflows: [
        {
          workflowId: '7f3c2a10-0101-4000-8000-00000000f101',
          name: 'Inpaint product shots',
          versions: [version('0101', 'v1', '2025-07-07T07:07:07.070707Z', '2025-07-07T07:07:07.070707Z')],
        },
      ],
    },
  ];
}

function version(n: string, versionName: string | undefined, createdAt: string, updatedAt: string) {
  return { versionId: `a1b2c3d4-${n}-4000-8000-00000000${n}`, versionName, createdAt, updatedAt };
}
