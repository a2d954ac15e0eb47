import type { RouteObject } from 'react-router';
import { Layout } from './Layout';
import { SignIn, AcceptInvite, ResetPassword, AdminSignIn } from './pages/SignIn';
import { Home } from './pages/Home';
import { Calls } from './pages/Calls';
import { CallPage } from './pages/CallPage';
import { Campaigns, NewCampaign } from './pages/Campaigns';
import { CampaignPage, LeadPage } from './pages/CampaignPage';
import { Approvals } from './pages/Approvals';
import { Contacts, ContactPage } from './pages/Contacts';
import { Insights } from './pages/Insights';
import { Settings } from './pages/Settings';
import { Agents } from './pages/Agents';
import { NotFound } from './ui';

export const routes: RouteObject[] = [
  { path: '/signin', element: <SignIn /> },
  { path: '/invite', element: <AcceptInvite /> },
  { path: '/reset', element: <ResetPassword /> },
  { path: '/admin', element: <AdminSignIn /> },
  {
    path: '/',
    element: <Layout />,
    children: [
      { index: true, element: <Home /> },
      { path: 'calls', element: <Calls /> },
      { path: 'calls/:id', element: <CallPage /> },
      { path: 'campaigns', element: <Campaigns /> },
      { path: 'campaigns/new', element: <NewCampaign /> },
      { path: 'campaigns/:id', element: <CampaignPage /> },
      { path: 'campaigns/:id/leads/:leadId', element: <LeadPage /> },
      { path: 'approvals', element: <Approvals /> },
      { path: 'contacts', element: <Contacts /> },
      { path: 'contacts/:id', element: <ContactPage /> },
      { path: 'insights', element: <Insights /> },
      { path: 'settings', element: <Settings /> },
      { path: 'agents', element: <Agents /> },
      { path: '*', element: <NotFound /> },
    ],
  },
];
