import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import '@xyflow/react/dist/style.css';
import './styles.css';
import { ApiError } from './api.ts';
import { Layout } from './components/Layout.tsx';
import { ApiKeys } from './pages/ApiKeys.tsx';
import { DeadLetter } from './pages/DeadLetter.tsx';
import { EndpointDetail } from './pages/EndpointDetail.tsx';
import { Endpoints } from './pages/Endpoints.tsx';
import { RunDetail } from './pages/RunDetail.tsx';
import { Runs } from './pages/Runs.tsx';
import { WorkflowDetail } from './pages/WorkflowDetail.tsx';
import { Workflows } from './pages/Workflows.tsx';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A client error will not get better by asking again; a dropped connection may.
      retry: (n, err) => !(err instanceof ApiError && err.status < 500) && n < 3,
      retryDelay: (n) => Math.min(1000 * 2 ** n, 10_000),
      refetchOnWindowFocus: true,
      staleTime: 1000,
    },
  },
});

const router = createBrowserRouter(
  [
    {
      path: '/',
      element: <Layout />,
      children: [
        { index: true, element: <Runs /> },
        { path: 'runs/:executionId', element: <RunDetail /> },
        { path: 'workflows', element: <Workflows /> },
        { path: 'workflows/:canvasId', element: <WorkflowDetail /> },
        { path: 'events', element: <Endpoints /> },
        { path: 'events/:endpointId', element: <EndpointDetail /> },
        { path: 'failed', element: <DeadLetter /> },
        { path: 'keys', element: <ApiKeys /> },
        { path: '*', element: <p role="alert">No such page.</p> },
      ],
    },
  ],
  { basename: '/ui' },
);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
