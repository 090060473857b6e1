// Progressive enhancement, served from our origin (the CSP allows no inline script): a file picker
// next to a PEM text area fills the text area with the chosen file's text, so a certificate file as
// J.P. Morgan issued it can be chosen instead of pasted. Without script the text area still works.
document.addEventListener('change', (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== 'file' || !input.dataset.fills) {
    return;
  }
  const target = document.getElementById(input.dataset.fills);
  const file = input.files && input.files[0];
  if (!(target instanceof HTMLTextAreaElement) || !file) {
    return;
  }
  if (file.size > 100000) {
    input.setCustomValidity('This file is larger than a certificate (100 kB at most).');
    input.reportValidity();
    return;
  }
  input.setCustomValidity('');
  void file.text().then((text) => {
    target.value = text;
  });
});
