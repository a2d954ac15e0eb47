import { withTenant, type Pool } from '../../lib/db.js';

/** The campaign workflow's activities: which leads to start next, and the campaign's own status. */
export function createCampaignFeedActivities({ pool }: { pool: Pool }) {
  return {
    /** Leads not started yet, in the order they were added, after the cursor. */
    async nextLeads(input: {
      tenantId: string;
      campaignId: string;
      afterSeq: number;
      limit: number;
    }): Promise<{ leads: { id: string; seq: number }[] }> {
      const { rows } = await withTenant(pool, input.tenantId, (c) =>
        c.query<{ id: string; seq: string }>(
          `select id, seq from campaign_leads where tenant_id = $1 and campaign_id = $2 and seq > $3 and state = 'pending' order by seq limit $4`,
          [input.tenantId, input.campaignId, input.afterSeq, input.limit],
        ),
      );
      return { leads: rows.map((r) => ({ id: r.id, seq: Number(r.seq) })) };
    },

    /** The campaign ended: completed, or cancelled (leads never started are marked cancelled too). */
    async closeCampaign(input: {
      tenantId: string;
      campaignId: string;
      status: 'completed' | 'cancelled';
    }): Promise<{ cancelledLeads: number }> {
      return withTenant(pool, input.tenantId, async (c) => {
        let cancelledLeads = 0;
        if (input.status === 'cancelled') {
          const r = await c.query(
            `update campaign_leads set state = 'cancelled', updated_at = now() where tenant_id = $1 and campaign_id = $2 and state = 'pending'`,
            [input.tenantId, input.campaignId],
          );
          cancelledLeads = r.rowCount ?? 0;
        }
        await c.query(
          `update campaigns set status = $3, finished_at = coalesce(finished_at, now()), updated_at = now() where tenant_id = $1 and id = $2 and status <> 'cancelled'`,
          [input.tenantId, input.campaignId, input.status],
        );
        return { cancelledLeads };
      });
    },
  };
}

export type CampaignFeedActivities = ReturnType<typeof createCampaignFeedActivities>;
