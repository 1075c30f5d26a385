import { useEffect, useState, type ReactNode } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { resume } from './lib/api';
import { useUser } from './lib/hooks';
import { Layout } from './components/Layout';
import { Loading } from './components/ui';
import { Markets } from './pages/Markets';
import { Trade } from './pages/Trade';
import { SignIn, SignUp } from './pages/Auth';
import { Wallet } from './pages/Wallet';
import { Security } from './pages/Security';
import { Admin } from './pages/Admin';

const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false, staleTime: 2_000 } },
});

/** Private pages: signed-out visitors go to sign in, and come back after. */
function Private({ children }: { children: ReactNode }) {
  const user = useUser();
  const location = useLocation();
  if (!user) return <Navigate to="/signin" replace state={{ from: location.pathname }} />;
  return <>{children}</>;
}

export function App() {
  // A stored refresh token becomes a session before private routes decide.
  const [ready, setReady] = useState(false);
  useEffect(() => {
    void resume().finally(() => setReady(true));
  }, []);
  return (
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <Layout>
          {!ready ? (
            <Loading />
          ) : (
            <Routes>
              <Route path="/" element={<Markets />} />
              <Route path="/trade/:symbol" element={<Trade />} />
              <Route path="/signin" element={<SignIn />} />
              <Route path="/signup" element={<SignUp />} />
              <Route path="/wallet" element={<Private><Wallet /></Private>} />
              <Route path="/security" element={<Private><Security /></Private>} />
              <Route path="/admin" element={<Private><Admin /></Private>} />
              <Route path="*" element={<Navigate to="/" replace />} />
            </Routes>
          )}
        </Layout>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
