import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { AppRoutes } from './app/AppRoutes';
import { Providers } from './app/Providers';
import { createQueryClient } from './app/queryClient';
import { applyTheme } from './features/theme/theme';
import { takeTokenFromUrl } from './shared/lib/session';
import './index.css';

applyTheme();
takeTokenFromUrl();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Providers client={createQueryClient()}>
      <BrowserRouter>
        <AppRoutes />
      </BrowserRouter>
    </Providers>
  </StrictMode>,
);
